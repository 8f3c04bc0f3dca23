//! The loopback provider's embeddings replies (OpenAI-compatible `/embeddings` and Gemini's
//! `batchEmbedContents`).

use serde_json::{Value, json};

use super::WireKind;

/// Deterministic vectors for the texts of an embeddings request (`dimensions` or
/// `outputDimensionality` long, 8 by default): equal texts get equal vectors.
pub fn embeddings(wire: WireKind, body: &Value) -> Value {
    let texts: Vec<&str> = match wire {
        WireKind::Gemini => body["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                r["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
            })
            .collect(),
        _ => body["input"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t.as_str().unwrap_or_default())
            .collect(),
    };
    let size = body["dimensions"]
        .as_u64()
        .or(body["requests"][0]["outputDimensionality"].as_u64())
        .unwrap_or(8) as usize;
    let vector = |text: &str| -> Vec<f64> {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        (0..size)
            .map(|_| {
                for b in text.bytes() {
                    hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                }
                (hash % 2001) as f64 / 1000.0 - 1.0
            })
            .collect()
    };
    match wire {
        WireKind::Gemini => {
            json!({"embeddings": texts.iter().map(|t| json!({"values": vector(t)})).collect::<Vec<_>>()})
        }
        _ => {
            let tokens: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
            let data: Vec<Value> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector(t)}))
                .collect();
            json!({"object": "list", "data": data, "model": body["model"],
                   "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
        }
    }
}
