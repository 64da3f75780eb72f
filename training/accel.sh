#!/usr/bin/env bash
# Drives train_accel on an accelerator machine reached through the device tool (one short call per action; the
# trainer runs on between calls as a daemon in its own session). Run from the repository root there; shards travel
# in carried folders .accelN/ (training/README.md, "Training on a lent accelerator").
#   start DIR MINUTES   move DIR's shards into the inbox, start the trainer from DIR/init.pt for MINUTES, show its log
#   feed DIR            move DIR's shards into the inbox
#   watch SECONDS       wait until the trainer is done or SECONDS pass; copy what exists so far to $OUT
set -euo pipefail
run=training/runs/accel
inbox=$run/inbox
mkdir -p "$inbox"
case "$1" in
  start)
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    mv "$2"/shard-*.npz.xz "$inbox"/ 2>/dev/null || true   # none left when restarting a trainer
    init=$(realpath "$2/init.pt")
    (cd training && setsid nohup python3 -m voxgate_train.train_accel --inbox runs/accel/inbox --init "$init" \
      --out runs/accel --minutes "$3" > runs/accel/stdout.log 2>&1 < /dev/null &)
    for _ in $(seq 1 30); do sleep 5; grep -q '"event": "train"' "$run/stdout.log" 2>/dev/null && break; done
    tail -n 20 "$run/stdout.log" ;;
  feed)
    mv "$2"/shard-*.npz.xz "$inbox"/
    ls "$inbox"; tail -n 3 "$run/stdout.log" || true ;;
  watch)
    end=$((SECONDS + $2))
    while [ $SECONDS -lt $end ] && [ ! -f "$run/done" ]; do sleep 5; done
    { grep -v '"event": "train"' "$run/stdout.log" | tail -n 6; grep '"event": "train"' "$run/stdout.log" | tail -n 3; } || true
    cp "$run/log.jsonl" "$run/stdout.log" "$OUT"/
    if [ -f "$run/done" ]; then cp "$run/averaged.pt" "$run/final.pt" "$run/best.pt" "$OUT"/;
    else newest=$(ls -t "$run"/snapshots/step-*.pt 2>/dev/null | head -n 1); [ -z "$newest" ] || cp "$newest" "$OUT"/; fi ;;
  *) echo "usage: accel.sh start DIR MINUTES | feed DIR | watch SECONDS" >&2; exit 2 ;;
esac
