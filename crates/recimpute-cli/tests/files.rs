//! The `recimpute` binary on files: it never writes over its input, and cleans up after a
//! write that an earlier run was killed in.

use std::process::Command;

fn recimpute(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_recimpute")).args(args).output().expect("the binary runs")
}

#[test]
fn the_input_is_never_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ads.csv");
    let text = "age,device\n22,Desktop\n,Mobile\n41,\n";
    std::fs::write(&input, text).unwrap();
    // The same file, also under another spelling of its path.
    let again = dir.path().join(".").join("ads.csv");
    for output in [&input, &again] {
        for cmd in [&["impute", "--method", "mean"][..], &["convert"][..]] {
            let mut args: Vec<&std::ffi::OsStr> = vec![cmd[0].as_ref()];
            args.extend([input.as_os_str(), output.as_os_str()]);
            args.extend(cmd[1..].iter().map(std::ffi::OsStr::new));
            let out = recimpute(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
            assert!(err.contains("is the input file"), "{err}");
        }
    }
    assert_eq!(std::fs::read_to_string(&input).unwrap(), text, "the input is untouched");

    // A temporary file of a writer that no longer runs (process 0 never is one) goes away
    // with the next write of the same output; others stay.
    let output = dir.path().join("filled.csv");
    let stale = dir.path().join(".filled.csv.0.1.tmp");
    let other = dir.path().join(".other.csv.0.1.tmp");
    std::fs::write(&stale, "half").unwrap();
    std::fs::write(&other, "half").unwrap();
    let out =
        recimpute(&["impute".as_ref(), input.as_os_str(), output.as_os_str(), "--method".as_ref(), "mean".as_ref()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(&output).unwrap().starts_with("age,device\n"));
    if std::path::Path::new("/proc/self").exists() {
        assert!(!stale.exists());
    }
    assert!(other.exists(), "only the output's own temporaries are removed");
}
