//! `leakhound rules list` and `leakhound rules check`.

use std::io::{self, Write};

use anyhow::{Result, bail};

use super::{Outcome, configs};
use crate::cli::{ListFormat, RulesCommand};
use crate::rules::check::check;
use crate::rules::load::{build_rule_set, load_builtin, load_config_file};

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
            let mut rules = Vec::new();
            if files.is_empty() {
                rules = load_builtin()?.rules;
            }
            for file in files {
                rules.extend(load_config_file(file)?.rules);
            }
            let errors = check(&rules);
            for e in &errors {
                eprintln!("leakhound: {e}");
            }
            if !errors.is_empty() {
                bail!("{} problem(s) in {} rule(s)", errors.len(), rules.len());
            }
            eprintln!("{} rule(s) ok", rules.len());
            Ok(Outcome::Clean)
        }
    }
}
