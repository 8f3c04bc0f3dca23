"""Writes testdata/token_counts.json: strings and OpenAI's own counts of them.

The counts come from Python's `tiktoken` (`encode_ordinary`), never from Keel. Run with a
tiktoken cache filled offline:

    python scripts/tiktoken_cache.py /tmp/tiktoken-cache
    TIKTOKEN_CACHE_DIR=/tmp/tiktoken-cache python scripts/gen_token_vectors.py
"""

from __future__ import annotations

import json
import pathlib

import tiktoken

ROOT = pathlib.Path(__file__).resolve().parents[1]

PROSE = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "How do I prep for my Acme meeting?",
    "I'm sure they'll say we've done it, but you'd better check what's RE'D.",
    "Dana wants the usage report by Friday; legal review starts Monday.",
    "  leading spaces and trailing spaces   ",
    "tabs\tbetween\twords\tand\ttrailing\t",
    "line one\nline two\n\nline four\r\nwindows line\r\n",
    "Renewal: $48,500.00 (ARR) — up 12.5% QoQ, 3 seats added on 2026-12-03.",
    "e-mail: dana.smith+crm@acme-corp.example.com, phone +1 (415) 555-0133",
    "https://example.com/path/to/page?query=one&other=two#fragment",
    "ALL CAPS SENTENCE WITH NUMBERS 12345678901234567890",
    "camelCaseIdentifier snake_case_identifier SCREAMING_SNAKE kebab-case-name",
    "Mr. O'Neil's cat's toy isn't John's; it's Mary's.",
    "...!!!???;;;:::---___===+++***&&&%%%$$$###@@@",
    "<|endoftext|> is ordinary text here, as are <|im_start|> and <|fim_prefix|>",
    "",
    " ",
    "\n",
    "a",
    "1",
    "123456789",
    "3.14159265358979323846264338327950288419716939937510",
    "0x7fffffff 0b1010 1e-9 -42 +17",
]

CODE = [
    "fn main() {\n    println!(\"Hello, world!\");\n}\n",
    "def plan(messages: list[dict]) -> dict:\n    return {\"fits\": len(messages) < 10}\n",
    "SELECT id, total_tokens FROM conversations WHERE org_id = $1 AND archived_at IS NULL;",
    "INSERT INTO facts (subject, content) VALUES ('Acme', 'prefers email') ON CONFLICT DO NOTHING;",
    "const answer = await keel.route({ orgId, channel: 'web', message: text });",
    "export function countTokens(text: string, encoding?: Encoding): number;",
    '{"role": "assistant", "content": [{"type": "tool_call", "name": "crm_search"}]}',
    "<div class=\"card\"><span>Deal</span><b>$12k</b></div>",
    "#include <stdio.h>\nint main(void) { return printf(\"%d\\n\", 42) < 0; }",
    "    if (x >= 10 && y <= 20 || !z) { return x << 2 >> 1; }",
    "git log --oneline | head -5 && cargo test -p keelcore --test tokens",
    "a_b_c_d_e_f_g_h_i_j_k_l_m_n_o_p",
    "// TODO(keel): remove this once the migration lands\n/* block */",
    "SGVsbG8sIHdvcmxkIQ==aGVsbG8gd29ybGQgYmFzZTY0IGVuY29kZWQgdGV4dA==",
]

UNICODE = [
    "😀",
    "👍🏽 thumbs up with a skin tone",
    "🇯🇵🇺🇸🇩🇪 flags",
    "👩‍💻 and 👨‍👩‍👧 are joined sequences",
    "❤️🔥🚀🎉✨",
    "日本語のテキストです。",
    "会議の準備をしてください。来週の火曜日です。",
    "我们下周二开会，请准备好报告。",
    "客户合同更新价格",
    "회의 준비를 해 주세요.",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "مرحبا بالعالم، كيف حالك؟",
    "שלום עולם",
    "नमस्ते दुनिया",
    "Здравствуй, мир! Привет.",
    "Γειά σου Κόσμε",
    "naïve café résumé coöperate",
    "e\u0301 a\u0300 o\u0308 combining marks",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349a\u0308\u0327lgo",
    "ﬁ ﬂ ligatures and ＦＵＬＬＷＩＤＴＨ letters",
    "\u200b zero width \u200d joiner \ufeff bom",
    "mixed 日本 and English and 한국어 and emoji 😀 in one",
    "½ ¾ ² ³ № ™ © ® ° ± × ÷",
    "\u00a0non-breaking\u00a0spaces\u3000ideographic space",
    "control \x00 \x01 \x1f \x7f chars",
]


def long_runs() -> list[tuple[str, str]]:
    return [
        ("a_x_5000", "a" * 5000),
        ("space_x_3000", " " * 3000),
        ("newline_x_2500", "\n" * 2500),
        ("bang_x_3000", "!" * 3000),
        ("digit_x_3000", "7" * 3000),
        ("ab_x_2000", "ab" * 2000),
        ("emoji_x_800", "😀" * 800),
        ("cjk_x_1500", "字" * 1500),
        ("e_acute_x_1500", "é" * 1500),
        ("dash_x_2100_in_markdown", "# Title\n" + "-" * 2100 + "\nbody text\n"),
        ("run_between_lines", "intro line\nnext " + "w" * 5000 + "\nafter it\n"),
        ("run_after_punctuation_line", "x.\n" + " " * 3000 + "\nb and more"),
        ("run_then_letters_no_newline", "z" * 2500 + " tail words here"),
        ("two_runs", "start\n" + "q" * 2200 + "\nmiddle\n" + " " * 2300 + "\nend"),
        ("run_then_crlf", "head\r\n" + "k" * 2600 + "\r\nnext line"),
        ("run_then_slash", "path " + "x" * 2300 + "\n/abc\nnext"),
        ("base64_blob", "data:" + "QUJD" * 700 + "\nnext"),
        ("spaces_then_newline_letter", "a" + " " * 2400 + "\nb"),
    ]


def strings() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for group, items in (("prose", PROSE), ("code", CODE), ("unicode", UNICODE)):
        out += [(f"{group}_{i:02}", s) for i, s in enumerate(items)]
    out += long_runs()
    # Prefixes of a mixed paragraph: every cut through words, CJK, emoji and marks.
    mixed = "Acme's 日本 team 👩‍💻 shipped v2.0 — naïve café 🇯🇵 at 10:30; SELECT * FROM t;\n"
    chars = list(mixed)
    out += [(f"mixed_prefix_{n:02}", "".join(chars[:n])) for n in range(1, len(chars) + 1, 1)]
    # Numbers of every length up to 24 digits (the encodings cut digits by three), signed,
    # grouped and decimal.
    for n in range(1, 25):
        digits = "".join(str((i * 7 + 3) % 10) for i in range(n))
        out.append((f"number_{n:02}", digits))
    out += [(f"number_grouped_{i}", s) for i, s in enumerate(["1,234", "-1,234,567.89", "+00042", "1_000_000", "12:30:45.678", "2026-12-03T16:53:00Z"])]
    # Repetitions of short units (pieces that the memo serves).
    for unit in ("the ", "Hello ", "🙂 ", "テスト", "x1 ", "\t\n"):
        for n in (3, 17, 101):
            out.append((f"repeat_{unit.encode().hex()}_{n}", unit * n))
    return out


def main() -> None:
    encodings = [tiktoken.get_encoding(name) for name in ("o200k_base", "cl100k_base")]
    cases = []
    for name, text in strings():
        for enc in encodings:
            cases.append(
                {
                    "name": f"{name}_{enc.name}",
                    "input": {"text": text, "encoding": enc.name},
                    "expected": {"tokens": len(enc.encode_ordinary(text))},
                }
            )
    cases.append(
        {
            "name": "an_encoding_keel_does_not_count",
            "input": {"text": "hello", "encoding": "p50k_base"},
            "expected_error_code": "invalid_input",
            "expected_error_field": "encoding",
        }
    )
    path = ROOT / "testdata" / "token_counts.json"
    path.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n")
    print(f"{len({c['input']['text'] for c in cases})} strings, {len(cases)} cases")


if __name__ == "__main__":
    main()
