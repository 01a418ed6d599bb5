//! A chart on a shared cluster: two developers' installs of the same chart land in their
//! own namespaces, as their overlays do.

use super::*;
use crate::support::helm::{helm_create, real_helm, with_helm_log};

#[test]
#[ignore = "needs helm on PATH (scripts/test.sh provides it)"]
fn two_developers_install_the_same_chart_in_their_own_namespaces() {
    let t = team();
    // helm on PATH (the sandbox's PATH keeps only what the fakes need).
    let (sb, _log) = with_helm_log(t.sb, &real_helm());
    let t = Team { sb, ..t };
    let chart = "\n[[charts]]\nname = \"web\"\nchart = \"deploy/web\"\nnamespace = \"shop\"\n\
                 timeout = \"20s\"\n";
    for dir in [&t.alice, &t.bob] {
        helm_create(&dir.join("deploy"), "web");
        checkout(dir, &devenv_toml(CLUSTER_KEYS, chart));
    }
    dev_ok(&t.sb, &t.alice, "alice", &["up"]);
    let alice_before = owned_by(&t.sb, "alice");
    let r = dev_ok(&t.sb, &t.bob, "bob", &["up"]);
    only_shared_context(&r);

    for owner in ["alice", "bob"] {
        let ns = format!("shop-{owner}");
        let objs = objects(&t.sb, "shared");
        for kind in ["Deployment", "Service", "ServiceAccount"] {
            let o = find(&objs, kind, Some(&ns), "web")
                .unwrap_or_else(|| panic!("{owner}'s {kind}/web is not in {ns}"));
            assert_eq!(o.label("devenv.dev/owner"), Some(owner), "{o:?}");
        }
    }
    // Nothing of the chart in the namespace the chart names: each developer has their own.
    assert!(objects(&t.sb, "shared")
        .iter()
        .all(|o| o.namespace.as_deref() != Some("shop")));
    // bob's install left alice's objects as they were.
    assert_eq!(owned_by(&t.sb, "alice"), alice_before);
}
