"""Interleaved timing rounds shared by the benchmark scripts.

    python3 benches/rounds.py MB RUNS NAME COMMAND [NAME COMMAND ...]

Runs every command once per round (one warm-up round, then RUNS timed ones), prints a table of
median and minimum seconds, MB/s, the time relative to `leakhound` and the median CPU seconds
(user + system of the command and its children: steadier than wall time when the machine is
shared), and writes the wall medians as JSON to the file named by $ROUNDS_OUT when set, for the
caller's target lines. Interleaved,
not one tool's runs after another's: this machine's speed drifts by a third within a minute, and
back-to-back blocks of runs turned that drift into a ratio.
"""
import json, os, resource, statistics, subprocess, sys, time

mb, runs = int(sys.argv[1]) / 1e6, int(sys.argv[2])
tools = dict(zip(sys.argv[3::2], sys.argv[4::2]))
times = {name: [] for name in tools}
cpu = {name: [] for name in tools}


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


for round in range(runs + 1):
    for name, command in tools.items():
        clock, spent = time.perf_counter(), children_cpu()
        subprocess.run(command, shell=True, check=False)
        if round > 0:
            times[name].append(time.perf_counter() - clock)
            cpu[name].append(children_cpu() - spent)
med = {name: statistics.median(t) for name, t in times.items()}
lh = med["leakhound"]
print(f"{runs} interleaved rounds, median seconds")
print(f"{'tool':<12}{'median s':>9}{'min s':>8}{'MB/s':>8}{'vs leakhound':>14}{'cpu s':>8}")
for name, t in sorted(med.items(), key=lambda kv: kv[1]):
    spent = statistics.median(cpu[name])
    print(f"{name:<12}{t:>9.3f}{min(times[name]):>8.3f}{mb / t:>8.0f}{t / lh:>13.2f}x{spent:>8.3f}")
if os.environ.get("ROUNDS_OUT"):
    with open(os.environ["ROUNDS_OUT"], "w") as out:
        json.dump(med, out)
