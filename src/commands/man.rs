//! `semsearch man`: the manual page, in roff, from the clap definitions.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::output::Outcome;

pub fn run() -> anyhow::Result<Outcome> {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout().lock())?;
    Ok(Outcome::Success)
}
