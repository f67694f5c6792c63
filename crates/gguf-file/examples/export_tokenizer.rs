//! Write the tokenizer stored in a GGUF file as a Hugging Face `tokenizer.json`, and print the
//! model's shape from its metadata.
//!
//! ```text
//! cargo run -p gguf-file --example export_tokenizer -- MODEL.gguf tokenizer.json
//! ```
//!
//! `benches/random_llama.py` uses the file to build a random model of SmolLM2's shape for timing
//! on machines where the GGUF itself cannot be brought.

use std::process::ExitCode;

fn run(model: &str, out: &str) -> Result<(), Box<dyn std::error::Error>> {
    let file = gguf_file::GgufFile::open(model)?;
    let arch = file.architecture()?.to_string();
    for (key, value) in file.metadata().iter() {
        if key.starts_with(&format!("{arch}.")) {
            if let Some(n) = value.as_integer() {
                println!("{key} = {n}");
            } else {
                println!("{key} = {value:?}");
            }
        }
    }
    let tokenizer = file.tokenizer()?;
    println!(
        "tokenizer: {} tokens, bos {:?}, eos {:?}",
        tokenizer.vocab_size(),
        tokenizer.bos_id(),
        tokenizer.eos_id()
    );
    tokenizer.into_tokenizer().save(out, false).map_err(|e| format!("{out}: {e}"))?;
    println!("wrote {out}");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, out] = args.as_slice() else {
        eprintln!("usage: export_tokenizer MODEL.gguf OUT/tokenizer.json");
        return ExitCode::from(2);
    };
    match run(model, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("export_tokenizer: {e}");
            ExitCode::FAILURE
        }
    }
}
