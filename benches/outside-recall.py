#!/usr/bin/env python3
"""Recall of leakhound on public fake-credential collections that nobody on this project wrote.

    benches/outside-recall.py COLLECTION [--truth FILE] [--leakhound BIN] [--show]

COLLECTION is a checkout of one of these (kept outside the repository, never copied into it):

- Plazmaz/leaky-repo: its own truth, `.leaky-meta/secrets.csv`, gives the risky lines per file.
  Score: sum over files of min(lines found, risky lines) / total risky lines, as the issue (#13)
  measured it. A finding is any line with a finding; `.leaky-meta/` itself is not scored.
- secretlint/secretlint: the expected output of every rule package's snapshot test
  (`packages/@secretlint/secretlint-rule-*/test/snapshots/*/output.json`) names the file and the
  lines its authors call secrets. A line counts as found when leakhound reports that line. Not
  scored: packages that flag something other than a credential value (`no-dotenv`, `no-homedir`,
  `no-k8s-kind-secret`, `filter-comments`, `pattern`, `example`, the presets that repeat the
  others, internal tests) and messages that name identifiers, not secrets (`AWSAccountID`,
  `AzureClientId`, `AzureTenantId`). Findings in snapshots whose expected output is empty are
  counted as false positives.
- anything else (e.g. Yelp/detect-secrets' `test_data/`): `--truth FILE` lists the risky lines
  as `PATH LINE` pairs, PATH relative to COLLECTION (benches/outside-recall.detect-secrets.txt
  is ours for detect-secrets, labelled by reading each file; see its header).

Each collection is scanned twice: `--min-confidence low` and the `dir` default. The figures go to
stdout; `--show` also lists the missed lines and the findings outside the truth (positions and
rule ids only; secrets stay redacted).
"""

import argparse
import collections
import json
import pathlib
import subprocess
import sys

SECRETLINT_SKIPPED_PACKAGES = {
    "secretlint-rule-no-dotenv",
    "secretlint-rule-no-homedir",
    "secretlint-rule-no-k8s-kind-secret",
    "secretlint-rule-filter-comments",
    "secretlint-rule-pattern",
    "secretlint-rule-example",
    "secretlint-rule-preset-canary",
    "secretlint-rule-preset-recommend",
    "secretlint-rule-internal-test-cjs",
    "secretlint-rule-internal-test-esm",
}
SECRETLINT_NOT_SECRETS = {"AWSAccountID", "AzureClientId", "AzureTenantId"}


def scan(leakhound, root, confidence):
    """Lines with findings: {path relative to root: {line: [rule ids]}}."""
    args = [leakhound, "dir", str(root), "--format", "json", "--color", "never"]
    if confidence:
        args += ["--min-confidence", confidence]
    done = subprocess.run(args, capture_output=True, check=False)
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stderr.decode(errors="replace"))
        sys.exit(f"leakhound exited {done.returncode} on {root}")
    found = collections.defaultdict(lambda: collections.defaultdict(list))
    for finding in json.loads(done.stdout)["findings"]:
        found[relative(root, finding["path"])][finding["line"]].append(finding["rule_id"])
    return found


def relative(root, path):
    """A reported path relative to root: leakhound reports paths from the enclosing repository's
    top (`test_data/config.ini` for a scan of detect-secrets' test_data/)."""
    path = pathlib.PurePath(path)
    for skip in range(len(path.parts)):
        tail = pathlib.PurePath(*path.parts[skip:])
        if (root / tail).exists():
            return str(tail)
    return str(path)


def leaky_truth(root):
    """{path: risky line count} from leaky-repo's own secrets.csv."""
    truth = {}
    for row in (root / ".leaky-meta/secrets.csv").read_text().splitlines():
        row = row.strip()
        if not row or row.startswith("#"):
            continue
        path, risky, _informative = row.split(",")
        if path == "File name":
            continue
        truth[path] = int(risky)
    return truth


def secretlint_truth(root):
    """({path: {line}} expected, {path} of snapshots expected clean), from the snapshots."""
    expected, clean = {}, set()
    for output in sorted(root.glob("packages/@secretlint/secretlint-rule-*/test/snapshots/*/output.json")):
        package = output.parts[-5]
        if package in SECRETLINT_SKIPPED_PACKAGES:
            continue
        snapshot = json.loads(output.read_text())
        target = output.parent.parent / snapshot["filePath"].removeprefix("[SNAPSHOT]/")
        path = str(target.relative_to(root))
        if output.parent.name.startswith("options."):
            continue  # the outcome depends on a rule option leakhound has no counterpart for
        lines = {m["loc"]["start"]["line"] for m in snapshot["messages"] if m.get("messageId") not in SECRETLINT_NOT_SECRETS}
        if lines:
            expected[path] = lines
        elif not snapshot["messages"]:
            clean.add(path)
    return expected, clean


def listed_truth(truth_file):
    """{path: {line}} from a `PATH LINE` list (`#` comments)."""
    expected = collections.defaultdict(set)
    for row in pathlib.Path(truth_file).read_text().splitlines():
        row = row.split("#", 1)[0].strip()
        if row:
            path, line = row.rsplit(maxsplit=1)
            expected[path].add(int(line))
    return expected


def score_counts(truth, found, show):
    """leaky-repo scoring: per file, min(lines found, risky lines)."""
    hit = total = 0
    for path, risky in sorted(truth.items()):
        lines = len(found.get(path, {}))
        hit += min(lines, risky)
        total += risky
        if show and lines < risky:
            print(f"  missed {risky - lines}/{risky} in {path}")
    extra = []
    for path, lines in sorted(found.items()):
        over = len(lines) - truth.get(path, 0)
        if path.startswith(".leaky-meta/"):
            continue
        if over > 0:
            extra.append((path, over, sorted({r for rules in lines.values() for r in rules})))
    return hit, total, extra


def score_lines(expected, found, clean, show):
    """Line-exact scoring: an expected line is found when a finding sits on it."""
    hit = total = 0
    for path, lines in sorted(expected.items()):
        got = set(found.get(path, {})) & lines
        hit += len(got)
        total += len(lines)
        if show and got != lines:
            print(f"  missed {path}:{','.join(map(str, sorted(lines - got)))}")
    extra = []
    for path, lines in sorted(found.items()):
        if clean is not None and path not in clean and path not in expected:
            continue  # a file neither side of the truth (secretlint's other files)
        outside = {n: rules for n, rules in lines.items() if n not in expected.get(path, set())}
        if outside:
            extra.append((path, len(outside), sorted({r for rules in outside.values() for r in rules})))
    return hit, total, extra


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("collection", type=pathlib.Path)
    parser.add_argument("--truth", help="PATH LINE list of risky lines, for other collections")
    parser.add_argument("--leakhound", default="target/release/leakhound")
    parser.add_argument("--show", action="store_true", help="list misses and extra findings")
    opts = parser.parse_args()
    root = opts.collection.resolve()

    if opts.truth:
        kind, expected, clean = "listed", listed_truth(opts.truth), None
    elif (root / ".leaky-meta/secrets.csv").exists():
        kind, expected, clean = "leaky", leaky_truth(root), None
    elif (root / "packages/@secretlint").is_dir():
        kind, (expected, clean) = "secretlint", secretlint_truth(root)
    else:
        sys.exit(f"{root}: no truth known for this collection; pass --truth")

    for confidence in ("low", None):
        found = scan(opts.leakhound, root, confidence)
        label = f"--min-confidence {confidence}" if confidence else "default confidence"
        if opts.show:
            print(f"{kind} {label}:")
        if kind == "leaky":
            hit, total, extra = score_counts(expected, found, opts.show)
        else:
            hit, total, extra = score_lines(expected, found, clean, opts.show)
        print(f"{kind} {label}: recall {hit}/{total} = {hit / total:.3f}; "
              f"files with lines beyond the truth: {len(extra)} ({sum(n for _, n, _ in extra)} lines)")
        if opts.show:
            for path, lines, rules in extra:
                print(f"  extra {lines} line(s) in {path}: {' '.join(rules)}")


if __name__ == "__main__":
    main()
