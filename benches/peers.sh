#!/usr/bin/env bash
# msgstore against its peers, on the same messages, in one session.
#
# Usage:  benches/peers.sh CORPUS_DIR [N]
#   CORPUS_DIR  output of ../shared/tools/gen_corpus.py (CORPUS_DIR/msg/*.eml)
#   N           messages to use (default: all of them)
# Environment: RUNS (timed runs per case, default 3), WORK (default
#   /tmp/msgstore-peers), TOOLS (default ../shared/tools next to the repository).
#
# Needs `apt-get install cyrus-imapd dovecot-core` (root; neither starts a daemon
# here, see $TOOLS/README.md). Runs, one after the other so they never compete:
#   1. Cyrus `reconstruct`: index deleted (full) and intact (check), $TOOLS/cyrus
#   2. Dovecot: force-resync + FETCH ENVELOPE BODYSTRUCTURE, index deleted,
#      $TOOLS/dovecot/bench.sh (its other steps are printed too)
#   3. msgstore: cargo bench --bench reconstruct -- --corpus CORPUS_DIR
# then prints messages/s of each and the msgstore/peer ratios. Every figure is a
# median over RUNS runs after an untimed warm-up (warm page cache).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CORPUS=$(cd "${1:?usage: peers.sh CORPUS_DIR [N]}" && pwd)
N=${2:-$(find "$CORPUS/msg" -name '*.eml' | wc -l)}
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/msgstore-peers}
TOOLS=${TOOLS:-$HERE/../../shared/tools}
export RUNS
mkdir -p "$WORK"

# The first N messages, as every tool sees them.
SUB=$WORK/corpus-$N
if [ "$(find "$CORPUS/msg" -name '*.eml' | wc -l)" != "$N" ]; then
    rm -rf "$SUB"; mkdir -p "$SUB/msg"
    find "$CORPUS/msg" -name '*.eml' | sort | head -n "$N" | xargs -I{} ln -s {} "$SUB/msg/"
    CORPUS=$SUB
fi

echo "== Cyrus reconstruct ($N messages)"
# Every message in the INBOX (no subfolders), as for the others.
export SUBFOLDERS=""
CYW=$WORK/cyrus
WORK=$CYW "$TOOLS/cyrus/setup.sh" "$CORPUS" "$N" > "$WORK/cyrus-setup.log" 2>&1
WORK=$CYW OUT=$CYW/results "$TOOLS/cyrus/bench.sh" "$N" full check | tee "$WORK/cyrus.log"

echo "== Dovecot rebuild"
DOVBENCH_WORK=$WORK/dovecot CORPUS=$CORPUS "$TOOLS/dovecot/bench.sh" setup
DOVBENCH_WORK=$WORK/dovecot "$TOOLS/dovecot/bench.sh" run | tee "$WORK/dovecot.log"

echo "== msgstore"
rm -f "$WORK/msgstore.tsv"
(cd "$HERE/.." && cargo bench -q --bench reconstruct -- --corpus "$CORPUS" --messages "$N" \
    --runs "$RUNS" --dir "$WORK/msgstore" --tsv "$WORK/msgstore.tsv")

python3 - "$WORK" "$N" <<'PY'
import re, sys
work, n = sys.argv[1], int(sys.argv[2])
cy = {}
for line in open(f"{work}/cyrus/results/summary.tsv"):
    f = line.rstrip("\n").split("\t")
    if len(f) > 9 and f[0] in ("full", "check"):
        cy[f[0]] = (float(f[5]), float(f[8]), int(f[2]))   # last run wins
dv, step = {}, None
for line in open(f"{work}/dovecot.log"):
    m = re.match(r"=== (\S+):", line)
    if m: step = m.group(1)
    m = re.match(r"\s+(wall_s|maxrss_kib)\s+min\s+\S+\s+median\s+(\S+)", line)
    if m and step: dv.setdefault(step, {})[m.group(1)] = float(m.group(2))
ms = {}
for line in open(f"{work}/msgstore.tsv"):
    k, msgs, b, wall, cpu, rss = line.split("\t")
    ms[k] = (float(wall), float(rss) / 1024, int(b))
mb = ms["b"][2] / 1e6
print(f"\nsame session, {n} messages, {mb:.1f} MB, medians (wall, peak MiB):")
rows = [
    ("msgstore (a) floor: read + BLAKE3", ms["a"][0], ms["a"][1], n),
    ("msgstore (b) reconstruct -r, index deleted", ms["b"][0], ms["b"][1], n),
    ("msgstore (d) reconstruct -r, intact", ms["d"][0], ms["d"][1], n),
    ("msgstore (q) reconstruct -r --quick", ms["q"][0], ms["q"][1], n),
    ("Cyrus reconstruct, index deleted (full)", cy["full"][0], cy["full"][1], cy["full"][2]),
    ("Cyrus reconstruct, index intact (check)", cy["check"][0], cy["check"][1], cy["check"][2]),
    ("Dovecot force-resync + FETCH ENV BS", dv["rebuild_env_bs"]["wall_s"],
     dv["rebuild_env_bs"]["maxrss_kib"] / 1024, n),
]
for name, wall, rss, msgs in rows:
    print(f"  {name:<45} {wall:8.3f} s {msgs / wall:10.0f} msg/s {mb * msgs / n / wall:7.0f} MB/s {rss:7.1f} MiB")
full = ms["b"][0]
ours = n / full
print(f"  full rebuild vs Cyrus full:   {ours / (cy['full'][2] / cy['full'][0]):5.1f}x the messages/s (goal >= 8x)")
print(f"  full rebuild vs Dovecot:      {ours / (n / dv['rebuild_env_bs']['wall_s']):5.1f}x (goal >= 2x)")
print(f"  full rebuild vs floor:        {full / ms['a'][0]:5.2f}x the floor's time (goal <= 3x)")
print(f"  routine check vs floor:       {ms['d'][0] / ms['a'][0]:5.2f}x (goal <= 1.5x)")
print(f"  --quick vs routine check:     {ms['d'][0] / ms['q'][0]:5.1f}x faster (goal >= 10x)")
print(f"  --quick vs Cyrus check:       {(n / ms['q'][0]) / (cy['check'][2] / cy['check'][0]):5.1f}x the messages/s (goal > 1x)")
PY
