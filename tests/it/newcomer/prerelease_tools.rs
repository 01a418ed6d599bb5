//! Issue 12 #9: a k3d pre-release with a known bug is refused.

use super::*;

// ---------------------------------------------------------------------------------------
// Issue 12 #9: pre-release tools

/// k3d v5.9.0-rc.0 creates the registry listed in registries.use and fails (k3d#1642):
/// semver orders it before v5.9.0, and preflight refuses it. (Before: it passed as 5.9.0.)
#[test]
fn k3d_v5_9_0_rc_is_refused_before_anything_is_created() {
    let sb = Sandbox::new();
    let (registry, api) = ports(2);
    project(&sb, "prerelease", registry, api, "");
    // The output of an rc build (k3d-io/k3d#1642 shows its `k3d version`).
    sb.fault(
        json!({"tool": "k3d", "match": ["version"], "action": "garbage", "exit": 0,
        "stdout": "{\"k3d\":\"v5.9.0-rc.0\",\"k3s\":\"v1.34.3-k3s1\"}\n"}),
    );
    let o = run(&mut sb.devenv(["up"]));
    assert_eq!(o.code, Some(3), "{o:?}");
    assert!(
        o.stderr
            .contains("k3d v5.9.0-rc.0 is a pre-release of v5.9.0"),
        "{o:?}"
    );
    assert!(o.stderr.contains("k3d-io/k3d#1642"), "{o:?}");
    assert!(sb.mutating_calls().is_empty(), "{:?}", sb.mutating_calls());
    let d = run(&mut sb.devenv(["doctor"]));
    assert_eq!(d.code, Some(3), "{d:?}");
    assert!(d.stdout.contains("pre-release of v5.9.0"), "{d:?}");
}
