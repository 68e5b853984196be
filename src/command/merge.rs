//! `leakhound merge`: the shard reports of one sweep (`sweep --shard I/N`) combined into one
//! report, per image, with the same findings as an unsharded sweep; or those of one `gitlab
//! --shard I/N` run, into the report of an unsharded run.

use anyhow::{Context, Result, bail};

use super::{Outcome, configs, finish};
use crate::cli::MergeArgs;
use crate::report::RuleSummary;
use crate::rules::RuleSet;
use crate::rules::load::build_rule_set;
use crate::sweep::gitlab::GitlabDocument;
use crate::sweep::oci::OciAssembler;
use crate::sweep::shard::Shard;
use crate::sweep::{Assembler, SweepDocument, assemble};

/// Why a shard refuses `--verify`.
pub const SHARDS_DO_NOT_VERIFY: &str = "a shard does not verify: drop --verify here and pass it \
     to `leakhound merge`, which checks each distinct secret once across every shard";

/// Merges with the image source's assembly, or GitLab shard reports when those are given.
pub fn run(args: &MergeArgs) -> Result<Outcome> {
    let first = args.reports.first().map(|p| read(p)).transpose()?;
    if first.as_ref().and_then(|v| v.get("kind")).and_then(|k| k.as_str())
        == Some(crate::sweep::gitlab::KIND)
    {
        return merge_gitlab(args);
    }
    merge_with(&OciAssembler, args)
}

/// A shard report as JSON.
fn read(path: &std::path::Path) -> Result<serde_json::Value> {
    let text = std::fs::read(path)
        .with_context(|| format!("cannot read shard report {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// The rules the shards ran with: reports (SARIF) list them, so merge rebuilds them from the
/// same config and checks they are the same rules.
fn same_rules<'a>(
    args: &MergeArgs,
    shards: impl IntoIterator<Item = (Shard, &'a str)>,
) -> Result<RuleSet> {
    let set = build_rule_set(&configs(&args.rules, None)?)?;
    if let Some((shard, _)) = shards.into_iter().find(|(_, rules)| *rules != set.digest()) {
        bail!(
            "shard {shard} ran with other rules than merge has (built-in rules, or --config): give merge the run's --config, with the same leakhound version"
        );
    }
    Ok(set)
}

/// Reads every GitLab shard report, checks they form one whole run, and reports.
fn merge_gitlab(args: &MergeArgs) -> Result<Outcome> {
    let mut documents = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        let origin = path.display().to_string();
        let value = read(path)?;
        if value.get("kind").and_then(|k| k.as_str()) != Some(crate::sweep::gitlab::KIND) {
            bail!(
                "{origin} is not a GitLab shard report: write it with `leakhound gitlab --shard I/N --report FILE`"
            );
        }
        documents.push(GitlabDocument::from_json(value, &origin).map_err(anyhow::Error::msg)?);
    }
    let set = same_rules(args, documents.iter().map(|d| (d.shard, d.rules.as_str())))?;
    let summaries = set.rules.iter().map(|r| RuleSummary::of(&r.syntax)).collect();
    let report =
        crate::sweep::gitlab::combine(&documents, summaries).map_err(anyhow::Error::msg)?;
    finish(&report, &args.output, &args.verify, &args.rules)
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
    let set = same_rules(args, documents.iter().map(|d| (d.shard, d.rules.as_str())))?;
    let registry = documents.first().map(|d| d.registry.clone()).unwrap_or_default();
    let (mut report, projects) = assemble(assembler, &documents, format!("sweep {registry}"))?;
    report.rules = set.rules.iter().map(|r| RuleSummary::of(&r.syntax)).collect();
    let outcome = finish(&report, &args.output, &args.verify, &args.rules)?;
    if !args.output.quiet {
        eprint!("{}", super::sweep::project_table(&projects));
    }
    Ok(outcome)
}
