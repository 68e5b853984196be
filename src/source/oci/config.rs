//! The image config blob: `Env`, `Cmd`, `Entrypoint`, `Labels` and every history `created_by`
//! (where build args leak), each turned into a small text with a pseudo-path such as
//! `config:Env[3]`. Parsing only; must not depend on where the config came from.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Prefix of every config pseudo-path.
pub const PATH_PREFIX: &str = "config:";

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    config: Option<RunConfig>,
    #[serde(default)]
    history: Option<Vec<History>>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
struct History {
    #[serde(default)]
    created_by: Option<String>,
}

/// The parts of a config worth scanning, and the platform it declares.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConfigTexts {
    /// (pseudo-path, text) pairs.
    pub texts: Vec<(String, String)>,
    /// `os/arch[/variant]`, when the config says.
    pub platform: Option<String>,
}

/// Parses a config blob.
pub fn parse(data: &[u8]) -> Result<ConfigTexts, String> {
    let file: ConfigFile =
        serde_json::from_slice(data).map_err(|e| format!("invalid image config JSON: {e}"))?;
    let mut texts = Vec::new();
    let run = file.config.unwrap_or_default();
    for (i, env) in run.env.unwrap_or_default().into_iter().enumerate() {
        texts.push((format!("{PATH_PREFIX}Env[{i}]"), env));
    }
    for (name, args) in [("Cmd", run.cmd), ("Entrypoint", run.entrypoint)] {
        if let Some(args) = args.filter(|a| !a.is_empty()) {
            texts.push((format!("{PATH_PREFIX}{name}"), args.join(" ")));
        }
    }
    for (key, value) in run.labels.unwrap_or_default() {
        texts.push((format!("{PATH_PREFIX}Labels[{key}]"), format!("{key}={value}")));
    }
    for (i, h) in file.history.unwrap_or_default().into_iter().enumerate() {
        if let Some(created_by) = h.created_by {
            texts.push((format!("{PATH_PREFIX}history[{i}].created_by"), created_by));
        }
    }
    let platform = match (file.os, file.architecture) {
        (Some(os), Some(arch)) => Some(platform_string(&os, &arch, file.variant.as_deref())),
        _ => None,
    };
    Ok(ConfigTexts { texts, platform })
}

/// `os/arch` or `os/arch/variant`.
pub fn platform_string(os: &str, arch: &str, variant: Option<&str>) -> String {
    match variant.filter(|v| !v.is_empty()) {
        Some(v) => format!("{os}/{arch}/{v}"),
        None => format!("{os}/{arch}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_paths() {
        let json = r#"{"architecture":"arm64","os":"linux","variant":"v8",
            "config":{"Env":["PATH=/bin","DB_PASSWORD=x"],"Cmd":["run","--fast"],
            "Labels":{"a":"b"}},
            "history":[{"created_by":"ARG TOKEN=y"},{"empty_layer":true}]}"#;
        let c = parse(json.as_bytes()).expect("parses");
        assert_eq!(c.platform.as_deref(), Some("linux/arm64/v8"));
        let paths: Vec<&str> = c.texts.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "config:Env[0]",
                "config:Env[1]",
                "config:Cmd",
                "config:Labels[a]",
                "config:history[0].created_by"
            ]
        );
        assert_eq!(c.texts[2].1, "run --fast");
        assert!(parse(b"not json").is_err());
    }
}
