//! `leakhound rules list` and `leakhound rules check`.

use std::io::{self, Write};

use anyhow::{Result, bail};

use super::{Outcome, configs};
use crate::cli::{ListFormat, RulesCommand};
use crate::rules::check::check;
use crate::rules::gitleaks::load_any;
use crate::rules::load::{build_rule_set, load_builtin};

/// Runs a `rules` subcommand.
pub fn run(command: &RulesCommand) -> Result<Outcome> {
    match command {
        RulesCommand::List { format, rules } => {
            let cwd = std::env::current_dir()?;
            let set = build_rule_set(&configs(rules, Some(&super::repository_root(&cwd)))?)?;
            let mut out = io::stdout().lock();
            match format {
                ListFormat::Json => {
                    let rules: Vec<_> = set.rules.iter().map(|r| &r.syntax).collect();
                    serde_json::to_writer_pretty(&mut out, &rules)?;
                    writeln!(out)?;
                }
                ListFormat::Text => {
                    for rule in &set.rules {
                        let name = if rule.syntax.name.is_empty() {
                            &rule.syntax.description
                        } else {
                            &rule.syntax.name
                        };
                        writeln!(out, "{:<40} {:<8} {name}", rule.id(), rule.syntax.severity)?;
                    }
                    writeln!(out, "{} rules", set.rules.len())?;
                }
            }
            Ok(Outcome::Clean)
        }
        RulesCommand::Check { files } => {
            let (mut count, mut errors) = (0, Vec::new());
            if files.is_empty() {
                let rules = load_builtin()?.rules;
                count = rules.len();
                errors = check(&rules, true);
            }
            // The loader `--config` uses, so a file that loads there checks here, in either
            // format (#19).
            for file in files {
                for config in load_any(file)? {
                    for warning in &config.warnings {
                        eprintln!("leakhound: warning: {warning}");
                    }
                    count += config.rules.len();
                    errors.extend(check(&config.rules, !config.gitleaks));
                }
            }
            for e in &errors {
                eprintln!("leakhound: {e}");
            }
            if !errors.is_empty() {
                bail!("{} problem(s) in {count} rule(s)", errors.len());
            }
            eprintln!("{count} rule(s) ok");
            Ok(Outcome::Clean)
        }
    }
}
