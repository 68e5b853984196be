"""Interleaved timing rounds shared by the benchmark scripts.

    python3 benches/rounds.py MB RUNS NAME COMMAND [NAME COMMAND ...]

Runs every command once per round (one warm-up round, then RUNS timed ones), prints a table of
median and minimum seconds, MB/s and the time relative to `leakhound`, and writes the medians
as JSON to the file named by $ROUNDS_OUT when set, for the caller's target lines. Interleaved,
not one tool's runs after another's: this machine's speed drifts by a third within a minute, and
back-to-back blocks of runs turned that drift into a ratio.
"""
import json, os, statistics, subprocess, sys, time

mb, runs = int(sys.argv[1]) / 1e6, int(sys.argv[2])
tools = dict(zip(sys.argv[3::2], sys.argv[4::2]))
times = {name: [] for name in tools}
for round in range(runs + 1):
    for name, command in tools.items():
        clock = time.perf_counter()
        subprocess.run(command, shell=True, check=False)
        if round > 0:
            times[name].append(time.perf_counter() - clock)
med = {name: statistics.median(t) for name, t in times.items()}
lh = med["leakhound"]
print(f"{runs} interleaved rounds, median seconds")
print(f"{'tool':<12}{'median s':>9}{'min s':>8}{'MB/s':>8}{'vs leakhound':>14}")
for name, t in sorted(med.items(), key=lambda kv: kv[1]):
    print(f"{name:<12}{t:>9.3f}{min(times[name]):>8.3f}{mb / t:>8.0f}{t / lh:>13.2f}x")
if os.environ.get("ROUNDS_OUT"):
    with open(os.environ["ROUNDS_OUT"], "w") as out:
        json.dump(med, out)
