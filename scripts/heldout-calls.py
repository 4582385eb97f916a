#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Makes a small set of labelled barge-in calls that are not in ../shared/vad-dev, in its format
(WAV, labels, JSON, manifest.csv), so the detector can be checked on calls it was not tuned on:

    python3 scripts/heldout-calls.py OUT_DIR [--seed N]
    scripts/score-vad.sh OUT_DIR heldout

Callers and background talkers are espeak-ng voices (English, German, Spanish variants the dev
corpus does not use) reading sentences written here; the recipe follows ../shared/vad-dev's
README (8 kHz, 300–3400 Hz band, active speech level, 10 ms labels within 35 dB of the
utterance's loudest frame with gaps under 200 ms filled, a μ-law round trip). Conditions:
clean, white noise at 10 dB, babble of five other voices at 20, 10 and 5 dB, the agent's echo
alone after 250 and 400 ms (no caller), and a caller talking over echo that returns after
300 ms. Needs espeak-ng, numpy, scipy. Nothing here is used to tune the detector.
"""
import argparse
import csv
import json
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt

RATE = 8000
SENTENCES = {
    "en": ["Hold on a second.", "No, that is not what I asked.", "Wait.", "Can you repeat the last part please?",
           "I would like to change my delivery address.", "Stop, stop.", "Yes, exactly.", "What time do you close on Sundays?",
           "Actually I need the other account.", "Sorry, I did not catch that."],
    "de": ["Moment bitte.", "Nein, das meinte ich nicht.", "Können Sie das wiederholen?", "Ich möchte meine Adresse ändern.",
           "Halt.", "Ja, genau so."],
    "es": ["Espere un momento.", "No, eso no es lo que pedí.", "¿Puede repetirlo, por favor?", "Quiero cambiar mi dirección.",
           "Alto.", "Sí, exactamente."],
}
CALLERS = [("en-gb-scotland", "en"), ("de+f2", "de"), ("es+m4", "es"), ("en-us+f4", "en")]
TALKERS = [("en-gb+m2", "en"), ("de+m5", "de"), ("es-419+f1", "es"), ("en-us+m7", "en"), ("en-gb-x-rp+f3", "en"), ("es+f5", "es")]
AGENT = ("en-us+f2", "en")
BAND = butter(4, [300, 3400], btype="bandpass", fs=RATE, output="sos")


def speak(voice: str, text: str, rate: int, pitch: int) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", f.name, text], check=True)
        with wave.open(f.name) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
            source_rate = w.getframerate()
    x = sosfilt(BAND, resample_poly(x, RATE, source_rate))
    loud = np.flatnonzero(np.abs(x) > np.abs(x).max() * 0.01)
    return x[loud[0]:loud[-1] + 1] if len(loud) else x


def frame_power(x: np.ndarray) -> np.ndarray:
    n = len(x) // 80
    return (x[:n * 80].reshape(n, 80) ** 2).mean(axis=1) + 1e-9


def set_level(x: np.ndarray, dbfs: float) -> np.ndarray:
    """Scales to an active level: the mean power of the frames within 35 dB of the loudest."""
    p = frame_power(x)
    active = p[p > p.max() * 10 ** -3.5].mean()
    return x * np.sqrt((32768.0 ** 2) * 10 ** (dbfs / 10) / active)


def labels_of(x: np.ndarray) -> np.ndarray:
    p = frame_power(x)
    on = p > p.max() * 10 ** -3.5
    idx = np.flatnonzero(on)
    if len(idx):
        for a, b in zip(idx, idx[1:]):
            if 1 < b - a <= 20:  # gaps under 200 ms are speech
                on[a:b] = True
    return on


def ulaw_round_trip(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.round(x), -32768, 32767)
    mu = 255.0
    y = np.sign(x) * np.log1p(mu * np.abs(x) / 32768) / np.log1p(mu)
    y = np.round(y * 127) / 127  # 8-bit companded
    return np.sign(y) * (np.expm1(np.abs(y) * np.log1p(mu)) / mu) * 32768


def echo_path(reference: np.ndarray, delay_ms: int, erl_db: float, rng) -> np.ndarray:
    taps = rng.standard_normal(240) * np.exp(-np.arange(240) / 24.0) * 0.5
    taps[0] = 1.0
    h = np.concatenate([np.zeros(delay_ms * 8), taps])
    e = np.convolve(reference, h)[:len(reference)]
    return e * np.sqrt((reference ** 2).sum() / max((e ** 2).sum(), 1) / 10 ** (erl_db / 10))


def make_call(kind: str, rng, seconds: float = 40.0) -> dict:
    n = int(seconds * RATE)
    caller = np.zeros(n)
    labels = np.zeros(n // 80, dtype=bool)
    utterances = []
    reference = None
    voice, lang = CALLERS[rng.integers(len(CALLERS))]
    level = rng.uniform(-30, -22)
    if kind.startswith("echo"):
        reference = np.zeros(n)
        t = int(rng.uniform(0.5, 1.5) * RATE)
        prompts = []
        while t < n - 4 * RATE:
            prompt = set_level(speak(AGENT[0], " ".join(rng.choice(SENTENCES["en"], 3)), 165, 50), -22)
            end = min(n, t + len(prompt))
            reference[t:end] = prompt[:end - t]
            prompts.append((t, end))
            t = end + int(rng.uniform(1.5, 3.0) * RATE)
    if not kind.startswith("echo_only"):
        slots = []
        if kind == "echo_bargein":
            slots = [start + int(0.6 * RATE) for start, end in prompts if end - start > RATE and rng.random() < 0.75]
        else:
            t = int(rng.uniform(0.3, 2.0) * RATE)
            while t < n - 5 * RATE:
                slots.append(t)
                t += int(rng.uniform(2.0, 5.0) * RATE)
        for start in slots:
            words = speak(voice, str(rng.choice(SENTENCES[lang])), int(rng.integers(135, 195)), int(rng.integers(30, 70)))
            words = set_level(words, level + rng.uniform(-2, 2))
            end = min(n, start + len(words))
            if end - start < 800:
                continue
            caller[start:end] += words[:end - start]
            lab = labels_of(words[:end - start])
            first = start // 80
            labels[first:first + len(lab)] |= lab[:len(labels) - first]
            on = np.flatnonzero(lab)
            utterances.append({"onset_ms": int(first + on[0]) * 10, "end_ms": int(first + on[-1] + 1) * 10})
            if kind == "echo_bargein":  # the agent stops 0.6 s after the caller's onset
                cut = start + int(0.6 * RATE)
                following = [e for s, e in prompts if s < start <= e]
                if following:
                    reference[cut:following[0]] = 0
    interference = np.zeros(n)
    speech_power = frame_power(caller)[labels[:len(caller) // 80]].mean() if labels.any() else 1.0
    if kind.startswith("white") or kind.startswith("babble"):
        snr = float(kind.split("snr")[1])
        if kind.startswith("white"):
            noise = sosfilt(BAND, rng.standard_normal(n))
        else:
            noise = np.zeros(n)
            for talker, tlang in [TALKERS[i] for i in rng.choice(len(TALKERS), 5, replace=False)]:
                stream = np.zeros(0)
                while len(stream) < n:
                    stream = np.concatenate([stream, speak(talker, str(rng.choice(SENTENCES[tlang])), 170, 50), np.zeros(int(0.2 * RATE))])
                noise += set_level(stream[:n], -26)
        interference = noise * np.sqrt(speech_power / (noise ** 2).mean() / 10 ** (snr / 10))
    if reference is not None:
        interference = interference + echo_path(reference, 250 if kind == "echo_only_250" else (400 if kind == "echo_only" else 300), 10, rng)
        interference += rng.standard_normal(n) * 32768 * 10 ** (-66 / 20)
    mix = ulaw_round_trip(caller + interference)
    ref = ulaw_round_trip(reference) if reference is not None else None
    return {"caller": mix, "reference": ref, "labels": labels, "utterances": utterances, "voice": voice, "lang": lang}


def write(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    split = args.out / "heldout"
    split.mkdir(parents=True, exist_ok=True)
    kinds = ["clean", "white_snr10", "babble_snr20", "babble_snr10", "babble_snr5", "echo_only_250", "echo_only", "echo_bargein"]
    rows = []
    for index, kind in enumerate(kinds):
        call = make_call(kind, rng)
        call_id = f"heldout_{index:03d}_{kind}"
        write(split / f"{call_id}.wav", call["caller"])
        if call["reference"] is not None:
            write(split / f"{call_id}.ref.wav", call["reference"])
        (split / f"{call_id}.labels.txt").write_text("".join("1\n" if v else "0\n" for v in call["labels"]))
        condition = "echo_only" if kind.startswith("echo_only") else kind
        family = condition.split("_")[0] if condition not in ("echo_only", "echo_bargein") else "echo"
        meta = {"n_frames": len(call["labels"]), "duration_s": len(call["caller"]) / RATE, "condition": condition, "family": family,
                "utterances": call["utterances"], "caller": {"voice": call["voice"], "lang": call["lang"]}}
        (split / f"{call_id}.json").write_text(json.dumps(meta))
        rows.append({"call_id": call_id, "condition": condition, "family": family, "duration_s": meta["duration_s"]})
    with open(split / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["call_id", "condition", "family", "duration_s"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} calls in {split}")


if __name__ == "__main__":
    main()
