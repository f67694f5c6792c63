//! The tokenizer stored in GGUF metadata, rebuilt as a [`tokenizers::Tokenizer`].
//!
//! Only byte-level BPE (`tokenizer.ggml.model = "gpt2"`, the kind Llama-3, Qwen, SmolLM and
//! GPT-2 style models ship) is supported. The pieces are:
//!
//! * model: BPE over `tokenizer.ggml.tokens` (ids are positions) and `tokenizer.ggml.merges`
//!   (`"a b"` strings, best first), no unknown token;
//! * pre-tokenizer: chosen from `tokenizer.ggml.pre`, the way llama.cpp does it (see
//!   [`PreTokenizerKind`]);
//! * special tokens: tokens whose `tokenizer.ggml.token_type` is 3 (control) are added as
//!   special tokens, 4 (user-defined) as plain added tokens, so both are matched whole;
//! * post-processor: a BOS/EOS template only when `tokenizer.ggml.add_bos_token` /
//!   `add_eos_token` say so;
//! * decoder: byte-level.

use std::collections::HashSet;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Merges, Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use crate::error::{GgufError, Result};
use crate::metadata::Metadata;

/// `tokenizer.ggml.token_type` of a control token (`<|im_start|>`, `<|endoftext|>`).
pub const TOKEN_TYPE_CONTROL: i64 = 3;
/// `tokenizer.ggml.token_type` of a user-defined token (matched whole, not special).
pub const TOKEN_TYPE_USER_DEFINED: i64 = 4;

/// The split regex llama.cpp uses for the Llama-3 family of `tokenizer.ggml.pre` values.
pub const LLAMA3_SPLIT: &str = concat!(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
);

/// How text is split into words before BPE, chosen from `tokenizer.ggml.pre`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizerKind {
    /// The GPT-2 regex (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`),
    /// i.e. tokenizers' `ByteLevel` with `use_regex`. For `gpt-2`, `phi-2`, `roberta-bpe`,
    /// the `jina-*` family, `gigachat`, `default` and a missing key.
    Gpt2,
    /// Every digit split off on its own first (`\p{N}`), then the GPT-2 regex: tokenizers'
    /// `Digits(individual_digits)` then `ByteLevel`. For `smollm` (SmolLM, SmolLM2),
    /// `starcoder`, `refact`, `command-r`, `codeshell`, `exaone`, `minerva-7b`.
    DigitsThenGpt2,
    /// [`LLAMA3_SPLIT`], then byte-level mapping. For `llama3`, `llama-bpe`, `llama-v3`,
    /// `falcon3`, `falcon-h1`, `pixtral`, `dbrx`, `smaug-bpe`, `midm-2.0`, `lfm2`.
    Llama3,
}

impl PreTokenizerKind {
    /// The kind for a `tokenizer.ggml.pre` value (`None` for an absent key), or `None` if
    /// this crate does not know the value.
    pub fn from_pre(pre: Option<&str>) -> Option<Self> {
        Some(match pre {
            None => Self::Gpt2,
            Some(
                "default" | "gpt-2" | "phi-2" | "roberta-bpe" | "gigachat" | "jina-es" | "jina-de" | "jina-v1-en"
                | "jina-v2-es" | "jina-v2-de" | "jina-v2-code",
            ) => Self::Gpt2,
            Some("smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b") => {
                Self::DigitsThenGpt2
            }
            Some(
                "llama3" | "llama-bpe" | "llama-v3" | "falcon3" | "falcon-h1" | "pixtral" | "dbrx" | "smaug-bpe"
                | "midm-2.0" | "lfm2",
            ) => Self::Llama3,
            Some(_) => return None,
        })
    }

    /// The `tokenizers` pre-tokenizer for this kind.
    pub fn pre_tokenizer(self) -> Result<PreTokenizerWrapper> {
        let byte_level = |use_regex| ByteLevel::new(false, true, use_regex);
        Ok(match self {
            Self::Gpt2 => byte_level(true).into(),
            Self::DigitsThenGpt2 => Sequence::new(vec![Digits::new(true).into(), byte_level(true).into()]).into(),
            Self::Llama3 => {
                let split =
                    Split::new(SplitPattern::Regex(LLAMA3_SPLIT.into()), SplitDelimiterBehavior::Isolated, false)
                        .map_err(|e| tok_err("cannot compile the Llama-3 split regex", Some(e)))?;
                Sequence::new(vec![split.into(), byte_level(false).into()]).into()
            }
        })
    }
}

fn tok_err(reason: impl Into<String>, source: Option<tokenizers::Error>) -> GgufError {
    GgufError::Tokenizer { reason: reason.into(), source }
}

/// GPT-2's map from bytes to the printable characters byte-level vocabularies are written in.
fn byte_alphabet() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
        out[b as usize] = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(next).unwrap_or('\u{fffd}');
            next += 1;
            c
        };
    }
    out
}

/// A tokenizer rebuilt from GGUF metadata, with the special ids and settings stored beside it.
#[derive(Debug, Clone)]
pub struct GgufTokenizer {
    tokenizer: Tokenizer,
    pre: Option<String>,
    pre_kind: PreTokenizerKind,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    unk_id: Option<u32>,
    pad_id: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    chat_template: Option<String>,
}

fn optional_id(meta: &Metadata, key: &str, n_tokens: usize) -> Result<Option<u32>> {
    if !meta.contains_key(key) {
        return Ok(None);
    }
    let id = meta.get_usize(key)?;
    if id >= n_tokens {
        return Err(GgufError::InvalidValue {
            key: key.into(),
            reason: format!("id {id} is not below the vocabulary size {n_tokens}"),
        });
    }
    Ok(Some(id as u32))
}

fn optional_bool(meta: &Metadata, key: &str) -> Result<bool> {
    if meta.contains_key(key) {
        meta.get_bool(key)
    } else {
        Ok(false)
    }
}

fn optional_str(meta: &Metadata, key: &str) -> Result<Option<String>> {
    match meta.contains_key(key) {
        true => Ok(Some(meta.get_str(key)?.to_string())),
        false => Ok(None),
    }
}

/// How vocabularies spell tokens: in the byte alphabet. A token that is not (a mislabelled
/// special token, say) is respelled byte by byte, as transformers does.
struct Spelling {
    alphabet: [char; 256],
    in_alphabet: HashSet<char>,
}

impl Spelling {
    fn new() -> Self {
        let alphabet = byte_alphabet();
        Spelling { alphabet, in_alphabet: alphabet.iter().copied().collect() }
    }

    /// Whether `token` is written in the byte alphabet.
    fn is_spelled(&self, token: &str) -> bool {
        token.chars().all(|c| self.in_alphabet.contains(&c))
    }

    /// `token` in the byte alphabet.
    fn spell(&self, token: &str) -> String {
        if self.is_spelled(token) {
            token.to_string()
        } else {
            token.bytes().map(|b| self.alphabet[b as usize]).collect()
        }
    }
}

/// The byte-level BPE model of `tokens` (ids in order) and the file's merges.
fn bpe_model(meta: &Metadata, tokens: &[&str], spelling: &Spelling) -> Result<BPE> {
    let vocab: Vocab = tokens.iter().enumerate().map(|(id, t)| (spelling.spell(t), id as u32)).collect();
    let merges: Merges = meta
        .get_str_array("tokenizer.ggml.merges")?
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| tok_err(format!("merge #{i} {m:?} is not two tokens separated by a space"), None))
        })
        .collect::<Result<_>>()?;
    BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| tok_err("cannot build the BPE model", Some(e)))
}

/// Adds the tokens the file marks as control (special, never split) and user-defined.
fn add_marked_tokens(tokenizer: &mut Tokenizer, tokens: &[&str], types: &[i64], spelling: &Spelling) {
    let marked = |kind: i64, special: bool| -> Vec<AddedToken> {
        tokens
            .iter()
            .zip(types)
            .filter(|&(t, &ty)| ty == kind && spelling.is_spelled(t))
            .map(|(t, _)| AddedToken::from(t.to_string(), special).normalized(false))
            .collect()
    };
    tokenizer.add_special_tokens(&marked(TOKEN_TYPE_CONTROL, true));
    tokenizer.add_tokens(&marked(TOKEN_TYPE_USER_DEFINED, false));
}

/// The post-processor that puts BOS before and/or EOS after every sequence; each of `bos` and
/// `eos` is `(key, id)` when the file asks for it, and its id must be set.
fn bos_eos_processor(
    tokens: &[&str],
    bos: Option<(&str, Option<u32>)>,
    eos: Option<(&str, Option<u32>)>,
) -> Result<TemplateProcessing> {
    let special = |(key, id): (&str, Option<u32>)| {
        id.map(|id| (tokens[id as usize].to_string(), id)).ok_or_else(|| GgufError::MissingKey(key.to_string()))
    };
    let bos = bos.map(special).transpose()?;
    let eos = eos.map(special).transpose()?;
    let mut template: Vec<String> = bos.iter().map(|(t, _)| t.clone()).collect();
    template.push("$A".to_string());
    template.extend(eos.iter().map(|(t, _)| t.clone()));
    TemplateProcessing::builder()
        .try_single(template.join(" "))
        .map_err(|e| tok_err(format!("BOS/EOS template: {e}"), None))?
        .special_tokens(bos.into_iter().chain(eos).collect::<Vec<_>>())
        .build()
        .map_err(|e| tok_err(format!("BOS/EOS template: {e}"), None))
}

impl GgufTokenizer {
    /// Builds the tokenizer from `tokenizer.ggml.*` keys.
    ///
    /// # Errors
    /// A missing or mistyped key (named), a model other than `gpt2`, an unknown
    /// `tokenizer.ggml.pre`, a malformed merge, or token arrays of different lengths.
    pub fn from_metadata(meta: &Metadata) -> Result<Self> {
        let model = meta.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(tok_err(
                format!("tokenizer.ggml.model {model:?} is not supported (only \"gpt2\", byte-level BPE)"),
                None,
            ));
        }
        let pre = optional_str(meta, "tokenizer.ggml.pre")?;
        let pre_kind = PreTokenizerKind::from_pre(pre.as_deref()).ok_or_else(|| {
            tok_err(format!("tokenizer.ggml.pre {:?} is not supported", pre.as_deref().unwrap_or("")), None)
        })?;
        let tokens = meta.get_str_array("tokenizer.ggml.tokens")?;
        if u32::try_from(tokens.len()).is_err() {
            return Err(tok_err(format!("{} tokens do not fit u32 ids", tokens.len()), None));
        }
        let types = match meta.contains_key("tokenizer.ggml.token_type") {
            true => meta.get_int_array("tokenizer.ggml.token_type")?,
            false => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(tok_err(format!("{} token types for {} tokens", types.len(), tokens.len()), None));
        }

        let spelling = Spelling::new();
        let mut tokenizer = Tokenizer::new(bpe_model(meta, &tokens, &spelling)?);
        tokenizer.with_pre_tokenizer(Some(pre_kind.pre_tokenizer()?));
        tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
        add_marked_tokens(&mut tokenizer, &tokens, &types, &spelling);

        let n = tokens.len();
        let bos_id = optional_id(meta, "tokenizer.ggml.bos_token_id", n)?;
        let eos_id = optional_id(meta, "tokenizer.ggml.eos_token_id", n)?;
        let unk_id = optional_id(meta, "tokenizer.ggml.unknown_token_id", n)?;
        let pad_id = optional_id(meta, "tokenizer.ggml.padding_token_id", n)?;
        let add_bos = optional_bool(meta, "tokenizer.ggml.add_bos_token")?;
        let add_eos = optional_bool(meta, "tokenizer.ggml.add_eos_token")?;
        if add_bos || add_eos {
            let bos = add_bos.then_some(("tokenizer.ggml.bos_token_id", bos_id));
            let eos = add_eos.then_some(("tokenizer.ggml.eos_token_id", eos_id));
            tokenizer.with_post_processor(Some(bos_eos_processor(&tokens, bos, eos)?));
        }
        let chat_template = optional_str(meta, "tokenizer.chat_template")?;
        Ok(Self { tokenizer, pre, pre_kind, bos_id, eos_id, unk_id, pad_id, add_bos, add_eos, chat_template })
    }

    /// The rebuilt tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The rebuilt tokenizer, by value.
    pub fn into_tokenizer(self) -> Tokenizer {
        self.tokenizer
    }

    /// Token ids of `text`. With `add_special_tokens`, BOS/EOS are added if the file asks
    /// for them; special tokens written in the text (`<|im_start|>`) are always matched.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        self.tokenizer
            .encode_fast(text, add_special_tokens)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| tok_err("encoding failed", Some(e)))
    }

    /// Text of `ids`, optionally without special tokens.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.tokenizer.decode(ids, skip_special_tokens).map_err(|e| tok_err("decoding failed", Some(e)))
    }

    /// Number of tokens in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// `tokenizer.ggml.pre` as stored, if present.
    pub fn pre(&self) -> Option<&str> {
        self.pre.as_deref()
    }

    /// The pre-tokenizer chosen for [`GgufTokenizer::pre`].
    pub fn pre_kind(&self) -> PreTokenizerKind {
        self.pre_kind
    }

    /// `tokenizer.ggml.bos_token_id`.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// `tokenizer.ggml.eos_token_id`.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    /// `tokenizer.ggml.unknown_token_id`.
    pub fn unk_id(&self) -> Option<u32> {
        self.unk_id
    }

    /// `tokenizer.ggml.padding_token_id`.
    pub fn pad_id(&self) -> Option<u32> {
        self.pad_id
    }

    /// `tokenizer.ggml.add_bos_token` (false when absent).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// `tokenizer.ggml.add_eos_token` (false when absent).
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// `tokenizer.chat_template`, a Jinja template, if present.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_matches_gpt2() {
        let a = byte_alphabet();
        assert_eq!(a[b' ' as usize], 'Ġ');
        assert_eq!(a[b'\n' as usize], 'Ċ');
        assert_eq!(a[b'A' as usize], 'A');
        assert_eq!(a.iter().collect::<HashSet<_>>().len(), 256);
    }

    #[test]
    fn pre_values_map_like_llama_cpp() {
        assert_eq!(PreTokenizerKind::from_pre(Some("smollm")), Some(PreTokenizerKind::DigitsThenGpt2));
        assert_eq!(PreTokenizerKind::from_pre(Some("llama-bpe")), Some(PreTokenizerKind::Llama3));
        assert_eq!(PreTokenizerKind::from_pre(None), Some(PreTokenizerKind::Gpt2));
        assert_eq!(PreTokenizerKind::from_pre(Some("no-such-thing")), None);
        for kind in [PreTokenizerKind::Gpt2, PreTokenizerKind::DigitsThenGpt2, PreTokenizerKind::Llama3] {
            kind.pre_tokenizer().unwrap();
        }
    }

    #[test]
    fn missing_keys_are_named() {
        let err = GgufTokenizer::from_metadata(&Metadata::default()).unwrap_err().to_string();
        assert!(err.contains("tokenizer.ggml.model"), "{err}");
    }
}
