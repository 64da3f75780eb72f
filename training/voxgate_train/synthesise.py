"""Step 2: synthesise domain speech with Debian's TTS engines (espeak-ng voice variants, flite, festival).

Each sentence from domain_text gets an engine, voice, rate and pitch drawn from a seeded RNG, so the output is
reproducible. Held-out transcripts that never occur in the training portion are banned from the text (and so are
sentences containing a held-out transcript of three words or more). Output (not in git): cache/audio/synth.npy
and rows appended to cache/synth_index.tsv in index.tsv's format. Resumable: sentences already done are skipped.
"""
import argparse
import os
import random
import subprocess
import tempfile
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from .common import CACHE_DIR, SAMPLE_RATE_HZ
from .domain_text import sentences

ESPEAK_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
                 "en"]
ESPEAK_VARIANTS = ["", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5",
                   "+klatt", "+klatt2", "+klatt3", "+klatt4", "+croak", "+Andy", "+Annie", "+Denis", "+Gene",
                   "+Jacky", "+Lee", "+Mario", "+Michael", "+Mr serious", "+Storm", "+Tweaky", "+aunty", "+boris",
                   "+edward", "+john", "+kaukovalta", "+max", "+norbert", "+quincy", "+robert", "+steph",
                   "+travis", "+victor", "+zac"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]


def pick_voice(r: random.Random) -> tuple[str, str, int, int]:
    u = r.random()
    if u < 0.55:
        return "espeak", r.choice(ESPEAK_VOICES) + r.choice(ESPEAK_VARIANTS), r.randint(120, 210), r.randint(20, 80)
    if u < 0.85:
        return "flite", r.choice(FLITE_VOICES), 0, 0
    return "festival", r.choice(FESTIVAL_VOICES), 0, 0


def synth_one(job: tuple[int, str, str, str, int, int]):
    i, text, engine, voice, rate, pitch = job
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "o.wav")
        if engine == "espeak":
            cmd = ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", wav, text]
        elif engine == "flite":
            cmd = ["flite", "-voice", voice, "-t", text, "-o", wav]
        else:
            cmd = ["text2wave", "-eval", f"(voice_{voice})", "-o", wav]
        try:
            subprocess.run(cmd, input=text.encode() if engine == "festival" else None, check=True, timeout=60,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            x, sr = sf.read(wav, dtype="float32", always_2d=True)
        except (subprocess.SubprocessError, RuntimeError):
            return i, None
    x = x.mean(axis=1)
    if sr != SAMPLE_RATE_HZ:
        x = torchaudio.functional.resample(torch.from_numpy(x), sr, SAMPLE_RATE_HZ).numpy()
    peak = float(np.abs(x).max()) or 1.0
    x = x / peak * 0.5
    return i, np.round(x * 32767).astype(np.int16)


def banned_texts() -> set[str]:
    train, held = set(), set()
    for line in (CACHE_DIR / "index.tsv").read_text().splitlines():
        f = line.split("\t")
        (held if f[4] == "heldout" else train).add(f[7])
    return held - train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=12000)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    texts = sentences(args.count, args.seed, banned_texts())
    r = random.Random(args.seed + 1)
    jobs = [(i, t, *pick_voice(r)) for i, t in enumerate(texts)]
    index_path, audio_dir = CACHE_DIR / "synth_index.tsv", CACHE_DIR / "audio" / "synth"
    audio_dir.mkdir(parents=True, exist_ok=True)
    done = set()
    if index_path.exists():
        done = {int(line.split("\t")[2]) for line in index_path.read_text().splitlines()}
    todo = [j for j in jobs if j[0] not in done]
    print(f"{len(todo)} sentences to synthesise ({len(done)} done)", flush=True)
    with Pool(args.workers) as pool, open(index_path, "a") as idx:
        for n, (i, audio) in enumerate(pool.imap_unordered(synth_one, todo, chunksize=8)):
            if audio is None or len(audio) < 1600:
                continue
            _, text, engine, voice, rate, pitch = jobs[i]
            np.save(audio_dir / f"{i}.npy", audio)
            speaker = f"{engine}:{voice}:{rate}:{pitch}"
            idx.write(f"synth\tsynth\t{i}\t{speaker}\ttrain\t0\t{len(audio)}\t{text}\n")
            if n % 500 == 0:
                idx.flush()
                print(f"{n}/{len(todo)}", flush=True)


if __name__ == "__main__":
    main()
