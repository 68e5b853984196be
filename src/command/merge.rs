//! `leakhound merge`: the shard reports of one sweep (`sweep --shard I/N`) combined into one
//! report, per image, with the same findings as an unsharded sweep.

use anyhow::{Context, Result, bail};

use super::{Outcome, configs, finish};
use crate::cli::MergeArgs;
use crate::report::RuleSummary;
use crate::rules::load::build_rule_set;
use crate::sweep::oci::OciAssembler;
use crate::sweep::{Assembler, SweepDocument, assemble};

/// Merges with the image source's assembly.
pub fn run(args: &MergeArgs) -> Result<Outcome> {
    merge_with(&OciAssembler, args)
}

/// Reads every shard report, checks they form one whole sweep, and reports.
pub fn merge_with<A: Assembler>(assembler: &A, args: &MergeArgs) -> Result<Outcome> {
    let mut documents = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        let text = std::fs::read(path)
            .with_context(|| format!("cannot read shard report {}", path.display()))?;
        documents.push(
            SweepDocument::from_json(&text, &path.display().to_string())
                .map_err(anyhow::Error::msg)?,
        );
    }
    // The rules the shards were swept with: reports (SARIF) list them, so merge rebuilds them
    // from the same config and checks they are the same rules.
    let set = build_rule_set(&configs(&args.rules, None)?)?;
    if let Some(d) = documents.iter().find(|d| d.rules != set.digest()) {
        bail!(
            "shard {} was swept with other rules than merge has (built-in rules, or --config): give merge the sweep's --config, with the same leakhound version",
            d.shard
        );
    }
    let registry = documents.first().map(|d| d.registry.clone()).unwrap_or_default();
    let (mut report, projects) = assemble(assembler, &documents, format!("sweep {registry}"))?;
    report.rules = set.rules.iter().map(|r| RuleSummary::of(&r.syntax)).collect();
    let outcome = finish(&report, &args.output, &args.verify, &args.rules)?;
    if !args.output.quiet {
        eprint!("{}", super::sweep::project_table(&projects));
    }
    Ok(outcome)
}
