//! graft ranks over loopback with Gloo, as separate processes: this test binary starts copies of
//! itself (directly, and through the venv's torchrun), each copy joins the process group as the
//! launch variables say and runs its part; a rank that dies or never arrives must make the
//! others fail within the timeout, not hang.
mod common;

use graft::distributed::{Group, Launch};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tch::Tensor;

/// Set in a child process: which part it plays.
const ROLE: &str = "GRAFT_TEST_ROLE";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Arguments that make this test binary run `test` alone, printing what it prints.
fn only(test: &str) -> [&str; 4] {
    [test, "--exact", "--nocapture", "--test-threads=1"]
}

fn this_test(test: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(only(test));
    c
}

/// Starts rank `rank` of `world` of this test binary, playing `role`.
fn rank(test: &str, role: &str, rank: usize, world: usize, port: u16) -> Child {
    this_test(test)
        .env(ROLE, role)
        .env("RANK", rank.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn join(timeout: Duration) -> anyhow::Result<Group> {
    let launch = Launch::from_env()?.expect("launched as one of several ranks");
    Group::join(&launch, timeout)
}

/// A rank's part in `collectives_give_every_rank_the_same_result`.
fn collectives() {
    let g = join(Duration::from_secs(60)).unwrap();
    let r = g.rank as f32;
    let mut t = Tensor::from_slice(&[r + 1.0, 10.0 * (r + 1.0)]);
    g.all_reduce_sum(&mut t).unwrap();
    assert_eq!(Vec::<f32>::try_from(&t).unwrap(), vec![3.0, 30.0]);
    let mut b = Tensor::from_slice(&[r, r]);
    g.broadcast(&mut b, 1).unwrap();
    assert_eq!(Vec::<f32>::try_from(&b).unwrap(), vec![1.0, 1.0]);
    let all = g
        .all_gather(&Tensor::from_slice(&[g.rank as i64; 3]))
        .unwrap();
    assert_eq!(all.size(), vec![2, 3]);
    assert_eq!(
        Vec::<i64>::try_from(&all.flatten(0, -1)).unwrap(),
        vec![0, 0, 0, 1, 1, 1]
    );
    assert_eq!(g.sum_count(10 + g.rank as u64).unwrap(), 21);
    g.barrier().unwrap();
    println!("rank {} of {}: collectives agree", g.rank, g.world);
}

/// A rank's part in `a_rank_that_dies_ends_the_others_within_the_timeout`: rank 1 joins and
/// is killed before the first collective; rank 0 must get an error, not wait forever.
fn dies() {
    let g = join(Duration::from_secs(60)).unwrap();
    if g.rank == 1 {
        // As `kill -9` would: no unwinding, no goodbye to the peers.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut t = Tensor::from_slice(&[1.0f32]);
    let e = g.all_reduce_sum(&mut t).unwrap_err();
    println!("rank 0 failed as it should: {e:#}");
    std::process::exit(3);
}

/// A rank's part in `a_slow_rank_is_waited_for_as_allowed_and_a_hung_one_is_not`: rank 1
/// reaches the all-reduce 5 s late, past the join's 3 s timeout; rank 0 allows for it or not.
fn late(allow: bool) {
    let g = join(Duration::from_secs(3)).unwrap();
    if g.rank == 1 {
        std::thread::sleep(Duration::from_secs(5));
    } else if allow {
        // As after 4 s of its own work: the others may need as long again.
        g.allow_for(Duration::from_secs(4));
    }
    let start = Instant::now();
    let mut t = Tensor::from_slice(&[1.0f32]);
    match g.all_reduce_sum(&mut t) {
        Ok(()) => println!(
            "rank {}: waited {:.1} s",
            g.rank,
            start.elapsed().as_secs_f64()
        ),
        Err(e) => {
            println!(
                "rank {}: gave up after {:.1} s: {e:#}",
                g.rank,
                start.elapsed().as_secs_f64()
            );
            std::process::exit(5);
        }
    }
}

/// A rank's part in `a_rendezvous_that_times_out_says_so`: alone in a group of two.
fn alone() {
    let e = join(Duration::from_secs(3))
        .err()
        .expect("nobody else came");
    println!("{e:#}");
    std::process::exit(4);
}

fn play() -> bool {
    match std::env::var(ROLE).as_deref() {
        Ok("collectives") => collectives(),
        Ok("dies") => dies(),
        Ok("alone") => alone(),
        Ok("late") => late(true),
        Ok("hung") => late(false),
        Ok(other) => panic!("unknown role {other}"),
        Err(_) => return false,
    }
    true
}

#[test]
fn collectives_give_every_rank_the_same_result() {
    if play() {
        return;
    }
    let port = free_port();
    let test = "collectives_give_every_rank_the_same_result";
    let ranks: Vec<Child> = (0..2)
        .map(|r| rank(test, "collectives", r, 2, port))
        .collect();
    for (r, child) in ranks.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let t = text(&out);
        assert!(out.status.success(), "rank {r}:\n{t}");
        assert!(
            t.contains(&format!("rank {r} of 2: collectives agree")),
            "{t}"
        );
    }
}

#[test]
fn torchrun_launches_graft_ranks() {
    if play() {
        return;
    }
    let out = common::torchrun(2)
        .arg(std::env::current_exe().unwrap())
        .args(only("torchrun_launches_graft_ranks"))
        .env(ROLE, "collectives")
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for r in 0..2 {
        assert!(
            t.contains(&format!("rank {r} of 2: collectives agree")),
            "{t}"
        );
    }
}

#[test]
fn a_rank_that_dies_ends_the_others_within_the_timeout() {
    if play() {
        return;
    }
    let port = free_port();
    let test = "a_rank_that_dies_ends_the_others_within_the_timeout";
    let start = Instant::now();
    let ranks: Vec<Child> = (0..2).map(|r| rank(test, "dies", r, 2, port)).collect();
    let outs: Vec<Output> = ranks
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let t = text(&outs[0]);
    assert_eq!(outs[0].status.code(), Some(3), "{t}");
    assert!(
        t.contains("all-reduce (rank 0 of 2, waiting at most 60 s"),
        "{t}"
    );
    assert!(t.contains("Connection closed by peer"), "{t}");
    assert!(!outs[1].status.success());
    // Well inside the 60 s timeout: the dead peer's closed connection is noticed at once.
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_rendezvous_that_times_out_says_so() {
    if play() {
        return;
    }
    let start = Instant::now();
    let out = rank(
        "a_rendezvous_that_times_out_says_so",
        "alone",
        0,
        2,
        free_port(),
    )
    .wait_with_output()
    .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(4), "{t}");
    assert!(
        t.contains("joining the process group as rank 0 of 2 at 127.0.0.1"),
        "{t}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn eval_and_predict_over_two_ranks_match_one_process() {
    if play() {
        return;
    }
    let run = common::demo_run("distributed-eval", 1);
    // The demo's Test plus an unreadable file: scored by shares, skipped once.
    let dir = tempfile::tempdir().unwrap();
    common::copy_tree(&common::demo().join("Test"), dir.path());
    std::fs::write(dir.path().join("Kiwi/broken.jpg"), b"not a jpeg").unwrap();
    // The same command as one process and as two torchrun ranks.
    let graft = env!("CARGO_BIN_EXE_graft");
    let both = |command: &str, before_images: &[&str]| -> (Output, Output) {
        let mut torchrun = common::torchrun(2);
        torchrun.arg(graft);
        [Command::new(graft), torchrun]
            .map(|mut cmd| {
                let out = cmd
                    .args([command, "--json", "--threads", "1", "--run"])
                    .arg(&run)
                    .args(before_images)
                    .arg(dir.path())
                    .env_remove("LD_LIBRARY_PATH")
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", text(&out));
                out
            })
            .into()
    };
    let (one, two) = both("eval", &["--data"]);
    let log = text(&two);
    assert!(log.contains("rank 0 of 2: scored 24 images"), "{log}");
    assert!(log.contains("rank 1 of 2: scored 24 images"), "{log}");
    // The broken file was rank 1's; rank 0 reports the merged count, once.
    assert!(log.contains("graft: 1 files skipped"), "{log}");
    assert_eq!(log.matches("files skipped").count(), 1, "{log}");
    let metrics = |o: &Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
    };
    let (a, b) = (metrics(&one), metrics(&two));
    assert_eq!(a["count"], 48);
    assert_eq!(a["accuracy"], b["accuracy"]);
    assert_eq!(a["per_class"], b["per_class"]);
    let (la, lb) = (a["loss"].as_f64().unwrap(), b["loss"].as_f64().unwrap());
    assert!((la - lb).abs() <= 1e-6 * la.abs(), "{la} {lb}");

    // predict: the same images, classes and probabilities, in the same order, printed once.
    let (one, two) = both("predict", &[]);
    let log = text(&two);
    assert!(log.contains("rank 0 of 2: predicted 24 images"), "{log}");
    assert!(log.contains("rank 1 of 2: predicted 24 images"), "{log}");
    let (a, b) = (metrics(&one), metrics(&two));
    let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
    assert_eq!(a.len(), 48);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x["path"], y["path"]);
        assert_eq!(x["top"][0]["class"], y["top"][0]["class"]);
        let (p, q) = (
            x["top"][0]["probability"].as_f64().unwrap(),
            y["top"][0]["probability"].as_f64().unwrap(),
        );
        assert!((p - q).abs() < 1e-6, "{p} {q}");
    }
}

#[test]
fn a_slow_rank_is_waited_for_as_allowed_and_a_hung_one_is_not() {
    if play() {
        return;
    }
    let test = "a_slow_rank_is_waited_for_as_allowed_and_a_hung_one_is_not";
    let port = free_port();
    let ranks: Vec<Child> = (0..2).map(|r| rank(test, "late", r, 2, port)).collect();
    let outs: Vec<Output> = ranks
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        assert!(o.status.success(), "{}", text(o));
    }
    assert!(
        text(&outs[0]).contains("rank 0: waited"),
        "{}",
        text(&outs[0])
    );
    // Without the allowance rank 0 gives up after the 3 s timeout, not at rank 1's pace.
    let port = free_port();
    let mut ranks: Vec<Child> = (0..2).map(|r| rank(test, "hung", r, 2, port)).collect();
    let mut late = ranks.pop().unwrap();
    let first = ranks.pop().unwrap().wait_with_output().unwrap();
    let _ = late.kill();
    let _ = late.wait();
    let t = text(&first);
    assert_eq!(first.status.code(), Some(5), "{t}");
    let secs: f64 = t
        .split("gave up after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{t}"));
    assert!((2.5..4.9).contains(&secs), "{t}");
}
