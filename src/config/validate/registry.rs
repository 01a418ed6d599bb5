//! [registry]: the k3d registry on this machine, or an external one. Its host port is
//! checked in `ports.rs`.

use std::net::IpAddr;

use super::names::check_dns_label;
use super::Errors;
use crate::config::schema::RegistryProvider;

pub(super) fn check(errs: &mut Errors<'_>) {
    let r = &errs.loaded.config.registry;
    match r.provider {
        RegistryProvider::K3d => {
            if r.bind.parse::<IpAddr>().is_err() {
                errs.push("registry.bind", format!("registry.bind {:?} is not an IP address", r.bind), "use 127.0.0.1 (the default) so only this machine can push");
            }
            if let Some(n) = &r.name {
                if let Err(why) = check_dns_label(n, 59) {
                    errs.push("registry.name", format!("registry name {n:?} is not valid: {why}"), "use lowercase letters, digits and '-' (its container is named k3d-NAME)");
                }
            }
            if r.address.is_some() {
                errs.push("registry.address", "registry.address only applies to provider = \"external\"", "remove it, or set registry.provider = \"external\"");
            }
        }
        RegistryProvider::External => match &r.address {
            None => errs.push("registry.provider", "provider = \"external\" needs registry.address", "set registry.address to the registry (and path) to push to, e.g. \"registry.example.com/team\""),
            Some(a) if a.contains("://") || a.contains(char::is_whitespace) || a.is_empty() => {
                errs.push("registry.address", format!("registry.address {a:?} is not a registry address"), "write host[:port][/path] without a scheme, e.g. \"registry.example.com:5000/team\"")
            }
            _ => {}
        },
    }
}
