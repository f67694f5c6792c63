//! Byte-level BPE tokenisation through the `tokenizers` crate, from a `tokenizer.json`, from
//! GPT-2's `vocab.json` + `merges.txt`, or from the vocabulary embedded in a GGUF file.

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer as HfTokenizer};

use crate::error::{Error, Result};

/// GPT-2's end-of-text token.
pub const GPT2_EOS: &str = "<|endoftext|>";

fn tok_err(context: impl Into<String>) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> Error {
    let context = context.into();
    move |source| Error::Tokenizer { context, source }
}

/// A text tokenizer producing `i64` ids ready for tensors.
#[derive(Clone)]
pub struct Tokenizer {
    inner: HfTokenizer,
    eos_id: Option<i64>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").field("vocab_size", &self.vocab_size()).field("eos_id", &self.eos_id).finish()
    }
}

impl Tokenizer {
    /// Loads a `tokenizer.json` (any model the `tokenizers` crate reads).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer file not found")));
        }
        let inner = HfTokenizer::from_file(path).map_err(tok_err(format!("reading `{}`", path.display())))?;
        let eos_id = inner.token_to_id(GPT2_EOS).map(i64::from);
        Ok(Self { inner, eos_id })
    }

    /// Builds GPT-2's tokenizer from `vocab.json` and `merges.txt`: byte-level pre-tokenizer
    /// without a prefix space, byte-level decoder, `<|endoftext|>` as a special token.
    pub fn from_vocab_merges(vocab: impl AsRef<Path>, merges: impl AsRef<Path>) -> Result<Self> {
        let (vocab, merges) = (vocab.as_ref(), merges.as_ref());
        for p in [vocab, merges] {
            if !p.is_file() {
                return Err(Error::io(
                    p,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer file not found"),
                ));
            }
        }
        let (v, m) = (vocab.to_string_lossy().into_owned(), merges.to_string_lossy().into_owned());
        let bpe = BPE::from_file(&v, &m).build().map_err(tok_err(format!("reading `{v}` and `{m}`")))?;
        let mut inner = HfTokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let eos_id = inner.token_to_id(GPT2_EOS).map(i64::from);
        if eos_id.is_some() {
            inner.add_special_tokens(&[AddedToken::from(GPT2_EOS, true)]);
        }
        Ok(Self { inner, eos_id })
    }

    /// Wraps an existing `tokenizers` tokenizer with the given end-of-sequence id (`None`
    /// falls back to the id of `<|endoftext|>`, if the vocabulary has it).
    pub fn from_tokenizer(inner: HfTokenizer, eos_id: Option<i64>) -> Self {
        let eos_id = eos_id.or_else(|| inner.token_to_id(GPT2_EOS).map(i64::from));
        Self { inner, eos_id }
    }

    /// The tokenizer embedded in a GGUF file (`tokenizer.ggml.*`, rebuilt by `gguf-file` with
    /// the pre-tokenizer llama.cpp uses for its `tokenizer.ggml.pre`), with the file's
    /// `tokenizer.ggml.eos_token_id` as end-of-sequence id (`<|im_end|>`, id 2, for
    /// SmolLM2-Instruct).
    pub fn from_gguf(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let gg = |source| Error::Gguf { path: path.to_path_buf(), source };
        let tok = gguf_file::GgufFile::open(path).map_err(gg)?.tokenizer().map_err(gg)?;
        let eos = tok.eos_id().map(i64::from);
        Ok(Self::from_tokenizer(tok.into_tokenizer(), eos))
    }

    /// Loads from a directory holding `tokenizer.json`, or else `vocab.json` + `merges.txt`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            Self::from_file(json)
        } else {
            Self::from_vocab_merges(dir.join("vocab.json"), dir.join("merges.txt"))
        }
    }

    /// Token ids of `text` (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        let enc = self.inner.encode(text, false).map_err(tok_err("encoding"))?;
        Ok(enc.get_ids().iter().map(|&i| i64::from(i)).collect())
    }

    /// Text of `ids`; special tokens are kept unless `skip_special` is set.
    pub fn decode(&self, ids: &[i64], skip_special: bool) -> Result<String> {
        let ids = ids
            .iter()
            .map(|&i| u32::try_from(i).map_err(|_| Error::TokenOutOfRange { id: i, vocab_size: self.vocab_size() }))
            .collect::<Result<Vec<u32>>>()?;
        self.inner.decode(&ids, skip_special).map_err(tok_err("decoding"))
    }

    /// Id of a token string, if in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<i64> {
        self.inner.token_to_id(token).map(i64::from)
    }

    /// The token string of an id.
    pub fn id_to_token(&self, id: i64) -> Option<String> {
        u32::try_from(id).ok().and_then(|i| self.inner.id_to_token(i))
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The end-of-sequence id: the one given to [`Tokenizer::from_tokenizer`] or stored in a
    /// GGUF file, else `<|endoftext|>`'s if the vocabulary has it.
    pub fn eos_id(&self) -> Option<i64> {
        self.eos_id
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &HfTokenizer {
        &self.inner
    }
}
