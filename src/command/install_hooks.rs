//! `leakhound install-hooks`: writes `hooks/pre-commit` and `hooks/pre-push` into a
//! repository's hooks directory (`core.hooksPath` when set), or with `--server` `hooks/pre-receive`
//! into a server's (bare) repository. A hook that is already there and is not leakhound's is never
//! replaced: the command says how to call leakhound from it instead.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{ErrorCode, Repository};

use super::Outcome;
use crate::cli::InstallHooksArgs;

/// The client's hook scripts, as shipped in `hooks/`.
const HOOKS: &[(&str, &str)] = &[
    ("pre-commit", include_str!("../../hooks/pre-commit")),
    ("pre-push", include_str!("../../hooks/pre-push")),
];

/// The server's hook script (`--server`).
const SERVER_HOOKS: &[(&str, &str)] = &[("pre-receive", include_str!("../../hooks/pre-receive"))];

/// The line `install-hooks` fills with this binary's path, so the hook works even when
/// `leakhound` is not on `PATH`.
const INSTALLED_LINE: &str = "LEAKHOUND_INSTALLED=''";

/// A line every leakhound hook carries: such a hook may be updated in place.
const MARKER: &str = "# Installed by `leakhound install-hooks`";

/// Installs the hooks; exits 2 when one could not be installed.
pub fn run(args: &InstallHooksArgs) -> Result<Outcome> {
    let start = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let repo = Repository::discover(&start).map_err(|e| {
        if e.code() == ErrorCode::NotFound {
            anyhow::anyhow!(
                "{} is not inside a git repository: run `leakhound install-hooks` in one or pass \
                 its path",
                start.display()
            )
        } else {
            anyhow::anyhow!("cannot open the repository at {}: {}", start.display(), e.message())
        }
    })?;
    let dir = hooks_dir(&repo)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the hooks directory {}", dir.display()))?;
    let binary = std::env::current_exe().ok();
    let mut out = io::stdout().lock();
    let mut outcome = Outcome::Clean;
    let hooks = if args.server { SERVER_HOOKS } else { HOOKS };
    for &(name, script) in hooks {
        let path = dir.join(name);
        let existing = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            // A dangling symlink is somebody's hook too: refuse it like any other.
            Err(e) if e.kind() == io::ErrorKind::NotFound && is_dangling_link(&path) => {
                Some(Vec::new())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the existing {}", path.display()));
            }
        };
        let ours = existing.as_ref().map(|b| String::from_utf8_lossy(b).contains(MARKER));
        if ours == Some(false) {
            eprintln!("{}", refusal(name, &path, existing.as_deref().unwrap_or_default()));
            outcome = Outcome::Incomplete;
            continue;
        }
        let text = fill_binary(script, binary.as_deref());
        write_executable(&path, &text)?;
        let verb = if ours == Some(true) { "updated" } else { "installed" };
        writeln!(out, "{verb} {}", path.display())?;
    }
    Ok(outcome)
}

/// Where git looks for hooks: `core.hooksPath` (relative to the working tree's root, as git
/// runs hooks there), else `hooks/` in the common git directory (shared by linked worktrees).
fn hooks_dir(repo: &Repository) -> Result<PathBuf> {
    let config = repo.config().context("cannot read the repository's git config")?;
    match config.get_path("core.hooksPath") {
        Ok(path) if path.is_absolute() => Ok(path),
        Ok(path) => Ok(repo.workdir().unwrap_or_else(|| repo.path()).join(path)),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(repo.commondir().join("hooks")),
        Err(e) => Err(anyhow::anyhow!("cannot read core.hooksPath: {}", e.message())),
    }
}

/// A symlink whose target is missing reads as "not found" but must not be overwritten either.
fn is_dangling_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// The script with this binary's path recorded as the last resort.
fn fill_binary(script: &str, binary: Option<&Path>) -> String {
    let Some(binary) = binary else { return script.to_owned() };
    let quoted = binary.to_string_lossy().replace('\'', r"'\''");
    script.replacen(INSTALLED_LINE, &format!("LEAKHOUND_INSTALLED='{quoted}'"), 1)
}

fn write_executable(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    Ok(())
}

/// Why a hook was left alone, and how to add leakhound to it.
fn refusal(name: &str, path: &Path, existing: &[u8]) -> String {
    let existing = String::from_utf8_lossy(existing);
    let (command, bypass) = match name {
        "pre-push" => {
            ("leakhound pre-push \"$@\" || exit 1", "it must get the hook's standard input")
        }
        "pre-receive" => (
            "leakhound pre-receive || exit 1",
            "it must get the hook's standard input: save it and feed it to each command",
        ),
        _ => ("leakhound staged || exit 1", "before anything that changes the index"),
    };
    let framework = if existing.contains("pre-commit.com") || existing.contains("pre-commit run") {
        "\n  This hook belongs to the pre-commit framework: add the `leakhound` and \
         `leakhound-push` hooks to .pre-commit-config.yaml instead (see leakhound's README)."
    } else {
        ""
    };
    format!(
        "leakhound: {} already exists and is not leakhound's: left unchanged.\n  To scan with \
         leakhound too, add this line to it ({bypass}):\n      {command}{framework}",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_hooks_carry_the_marker_and_the_binary_line() {
        for (name, script) in HOOKS.iter().chain(SERVER_HOOKS) {
            assert!(script.contains(MARKER), "{name}");
            assert!(script.contains(INSTALLED_LINE), "{name}");
            assert!(script.starts_with("#!/bin/sh\n"), "{name}");
        }
    }

    #[test]
    fn binary_path_is_shell_quoted() {
        let text = fill_binary(HOOKS[0].1, Some(Path::new("/opt/it's/leakhound")));
        assert!(text.contains(r"LEAKHOUND_INSTALLED='/opt/it'\''s/leakhound'"), "{text}");
    }

    #[test]
    fn refusal_says_what_to_add() {
        let text =
            refusal("pre-commit", Path::new("/r/.git/hooks/pre-commit"), b"#!/bin/sh\nmake lint\n");
        assert!(
            text.contains("left unchanged") && text.contains("leakhound staged || exit 1"),
            "{text}"
        );
        let text = refusal(
            "pre-push",
            Path::new("p"),
            b"# File generated by pre-commit: https://pre-commit.com\n",
        );
        assert!(
            text.contains("leakhound pre-push \"$@\"") && text.contains(".pre-commit-config.yaml"),
            "{text}"
        );
    }
}
