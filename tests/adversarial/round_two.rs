//! Round two of the review, the findings fixed outside the peer poll, the
//! collector and the failover (those have their own files).

use std::os::unix::fs::PermissionsExt;

use crate::files::{first_peer_error, nix_euid, ssh_pair_under};
use crate::peer::fake_ssh;

/// L5: a `su` that kept another user's `XDG_RUNTIME_DIR` put the control
/// directory inside a directory that user owns: they could rename ours
/// away and put theirs in its place. Its parent is checked too.
#[test]
fn a_control_dir_inside_another_users_directory_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = fake_ssh(tmp.path());
    let run_dir = tmp.path().join("run-user-1000");
    std::fs::create_dir(&run_dir).expect("run");
    let root = nix_euid() == 0;
    if root {
        // As root (CI): the other user's runtime dir, mode 0700 as systemd
        // makes it.
        std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::chown(&run_dir, Some(65534), Some(65534)).expect("chown");
    } else {
        std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let (cfg, env) = ssh_pair_under(tmp.path(), &bin, &run_dir);
    let err = first_peer_error(&cfg, &env);
    assert!(err.contains("unsafe ssh control directory"), "{err}");
    if root {
        assert!(
            err.contains("uid 65534") && err.contains("XDG_RUNTIME_DIR"),
            "{err}"
        );
    } else {
        assert!(err.contains("0777"), "{err}");
    }
    assert!(
        !bin.join("called").exists(),
        "ssh was never started under that directory"
    );
}
