//! `semsearch completions SHELL`: completions generated from the clap
//! definitions, so they never disagree with the flags.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::output::Outcome;

pub fn run(args: CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "semsearch", &mut std::io::stdout());
    Ok(Outcome::Success)
}
