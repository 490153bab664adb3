//! `semsearch mcp`: placeholder until the MCP server lands.
use crate::cli::McpArgs;
use crate::output::Outcome;
pub fn run(_args: McpArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet")
}
