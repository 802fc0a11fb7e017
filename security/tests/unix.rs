//! AF_UNIX: who may connect is decided by the socket file's permissions (the umask at bind time),
//! and SO_PEERCRED tells the server who did. The part that runs a client as another user needs
//! root (to switch to uid 65534, "nobody"); elsewhere it is skipped, loudly.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::*;

fn guarded(path: &Path, args: &[&str]) -> Proc {
    let mut cmd = example("unix_guarded");
    cmd.arg(path).args(args);
    let mut server = Proc::spawn(cmd, None);
    assert_eq!(server.next_line(), path.display().to_string());
    server
}

fn client(path: &Path) -> Command {
    let mut cmd = example("unix_echo_client");
    cmd.arg(path);
    cmd
}

fn is_root() -> bool {
    // SAFETY: getuid has no side effects; declared here because the tests have no libc crate.
    unsafe extern "C" {
        fn getuid() -> u32;
    }
    let root = unsafe { getuid() } == 0;
    if !root {
        eprintln!(
            "!!! not root: SKIPPING the part of this test that runs a client as another user !!!"
        );
    }
    root
}

/// A directory that every user may enter (the socket file's own mode is what is tested).
fn open_dir() -> TempDir {
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn the_guarded_socket_file_is_0600_whatever_the_umask() {
    let dir = open_dir();
    let path = dir.path().join("guarded.sock");
    let mut server = guarded(&path, &[]);
    assert!(server.next_line().contains("0600"));
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    drop(server);
}

#[test]
fn so_peercred_names_the_client_process() {
    let dir = open_dir();
    let path = dir.path().join("guarded.sock");
    let mut server = guarded(&path, &[]);
    server.next_line(); // the permissions line
    // The client's stdin stays open (a pipe) until the server has named it.
    let (reader, writer) = std::io::pipe().unwrap();
    let proc = Proc::spawn_with_stdin(client(&path), reader);
    let pid = proc.pid();
    let line = server.next_line();
    assert!(
        line.starts_with(&format!("对方：pid {pid}，uid ")),
        "{line}"
    );
    drop(writer);
    proc.finish().assert_success();
    drop(server);
}

#[test]
fn another_user_cannot_connect_to_a_0600_socket_and_is_refused_by_uid_otherwise() {
    if !is_root() {
        return;
    }
    let dir = open_dir();
    // 1. The file's permissions: nobody (uid 65534) may not even connect.
    let path = dir.path().join("guarded.sock");
    let server = guarded(&path, &[]);
    let mut cmd = client(&path);
    cmd.uid(65534).gid(65534);
    run(cmd, b"hi\n").assert_clean_failure("Permission denied");
    drop(server.stop());

    // 2. unix_guarded with --allow-uid of someone else: it sees root via SO_PEERCRED and refuses.
    let path2 = dir.path().join("guarded2.sock");
    let mut server = guarded(&path2, &["--allow-uid", "65534"]);
    server.next_line();
    let out = run(client(&path2), b"hi\n");
    assert!(!out.status.success() || out.stdout.is_empty(), "{out:?}");
    let log = server.stop();
    assert!(
        log.stderr.contains("：只允许 uid 65534（--allow-uid）"),
        "{log:?}"
    );
    assert!(log.stderr.contains("uid 0，gid 0"), "{log:?}");
}
