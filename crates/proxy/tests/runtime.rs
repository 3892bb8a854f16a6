//! The binary's runtime: as many worker threads as `--worker-threads`
//! asks for, and a clear refusal of none.

use std::process::Command;

mod common;

/// The names of a process's threads (Linux).
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|task| {
            let comm = task.unwrap().path().join("comm");
            std::fs::read_to_string(comm).unwrap().trim().to_owned()
        })
        .collect()
}

#[test]
fn the_binary_runs_the_worker_threads_it_is_given() {
    for (threads, expected) in [("1", 1), ("3", 3)] {
        let (mut child, url) = common::spawn_binary(&[
            "--mock",
            "--listen",
            "127.0.0.1:0",
            "--worker-threads",
            threads,
        ]);
        // It answers, on the runtime it was given.
        let address = url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        std::io::Write::write_all(
            &mut stream,
            b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let workers = thread_names(child.id())
            .into_iter()
            .filter(|name| name == "tokio-rt-worker")
            .count();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(workers, expected, "--worker-threads {threads}");
    }
}

#[test]
fn the_binary_refuses_zero_worker_threads() {
    let output = Command::new(env!("CARGO_BIN_EXE_llm-layers-proxy"))
        .args(["--mock", "--listen", "127.0.0.1:0", "--worker-threads", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("worker_threads must be more than 0"),
        "{stderr}"
    );
}
