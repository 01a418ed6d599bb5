//! Is a port free, and if not, who holds it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};
use std::path::Path;

use super::Check;

// ---------------------------------------------------------------------------------------
// Ports

/// A process holding a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// The command line (shortened), or the process name.
    pub command: String,
}

/// A listening TCP socket from `/proc/net/tcp{,6}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub addr: IpAddr,
    pub port: u16,
    pub inode: u64,
}

/// Parses `/proc/net/tcp` (`v6 = false`) or `/proc/net/tcp6` and keeps LISTEN sockets.
/// Addresses are printed as the kernel's 32-bit words in host byte order.
pub fn parse_proc_net_tcp(text: &str, v6: bool) -> Vec<Listener> {
    const LISTEN: &str = "0A";
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || f[3] != LISTEN {
            continue;
        }
        let Some((addr_hex, port_hex)) = f[1].split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port_hex, 16) else {
            continue;
        };
        let Ok(inode) = f[9].parse::<u64>() else {
            continue;
        };
        let addr = if v6 {
            if addr_hex.len() != 32 {
                continue;
            }
            let mut bytes = [0u8; 16];
            let mut ok = true;
            for i in 0..4 {
                match u32::from_str_radix(&addr_hex[i * 8..i * 8 + 8], 16) {
                    Ok(w) => bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes()),
                    Err(_) => ok = false,
                }
            }
            if !ok {
                continue;
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        } else {
            let Ok(w) = u32::from_str_radix(addr_hex, 16) else {
                continue;
            };
            IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes()))
        };
        out.push(Listener { addr, port, inode });
    }
    out
}

/// `::ffff:a.b.c.d` → `a.b.c.d`.
fn normalize(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    }
}

/// Whether a socket listening on `listener` stops a bind to `bind` on the same port.
/// `0.0.0.0` conflicts with every IPv4 address, `::` with everything (dual stack).
pub fn addrs_conflict(listener: IpAddr, bind: IpAddr) -> bool {
    let (l, b) = (normalize(listener), normalize(bind));
    if l == b {
        return true;
    }
    let wildcard_covers = |w: IpAddr, other: IpAddr| match w {
        IpAddr::V6(v6) if v6.is_unspecified() => true,
        IpAddr::V4(v4) if v4.is_unspecified() => other.is_ipv4() || other.is_unspecified(),
        _ => false,
    };
    wildcard_covers(l, b) || wildcard_covers(b, l)
}

/// The listening sockets of this network namespace that conflict with `addr:port`
/// (empty where `/proc` is not available).
fn conflicting_listeners(addr: IpAddr, port: u16) -> Vec<Listener> {
    let mut out = Vec::new();
    for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(
                parse_proc_net_tcp(&text, v6)
                    .into_iter()
                    .filter(|l| l.port == port && addrs_conflict(l.addr, addr)),
            );
        }
    }
    out
}

/// The process that owns one of these socket inodes, found through `/proc/PID/fd`.
/// Processes of other users are unreadable without privileges: then `None`.
fn holder_of(inodes: &[u64]) -> Option<Holder> {
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut procs: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // Look at ourselves first: cheap, and tests bind in-process.
    let me = std::process::id();
    procs.sort_by_key(|p| *p != me);
    for pid in procs {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                if wanted.iter().any(|w| target.as_os_str() == w.as_str()) {
                    return Some(Holder {
                        pid,
                        command: process_command(pid),
                    });
                }
            }
        }
    }
    None
}

/// `registry serve /etc/docker/registry/config.yml`, shortened; the name when the command
/// line is empty (kernel threads, zombies).
fn process_command(pid: u32) -> String {
    const MAX: usize = 80;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let text = if args.is_empty() {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    } else {
        let mut a = args;
        // The program's file name is enough; the directory only takes room.
        if let Some(name) = Path::new(&a[0]).file_name() {
            a[0] = name.to_string_lossy().into_owned();
        }
        shlex::try_join(a.iter().map(String::as_str)).unwrap_or_else(|_| a.join(" "))
    };
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX - 3).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Who listens on `port` in a way that conflicts with binding `addr` (Linux `/proc`).
pub fn port_holder(port: u16, addr: IpAddr) -> Option<Holder> {
    let listeners = conflicting_listeners(addr, port);
    if listeners.is_empty() {
        return None;
    }
    holder_of(&listeners.iter().map(|l| l.inode).collect::<Vec<_>>())
}

/// Binds `addr:port` and lets it go at once.
pub fn try_bind(addr: IpAddr, port: u16) -> io::Result<()> {
    TcpListener::bind((addr, port)).map(drop)
}

/// Whether a port can be bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortState {
    Free,
    /// In use; `holder` when the owning process could be found.
    Busy {
        holder: Option<Holder>,
    },
    /// The address is not one of this machine's.
    BadAddress,
}

/// Looks in `/proc` for a conflicting listener, then tries to bind (macOS, other network
/// namespaces, sockets of other users hidden from us).
pub fn port_state(addr: IpAddr, port: u16) -> PortState {
    let listeners = conflicting_listeners(addr, port);
    if !listeners.is_empty() {
        let inodes: Vec<u64> = listeners.iter().map(|l| l.inode).collect();
        return PortState::Busy {
            holder: holder_of(&inodes),
        };
    }
    match try_bind(addr, port) {
        Ok(()) => PortState::Free,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => PortState::Busy { holder: None },
        Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => PortState::BadAddress,
        // Privileged ports: Docker binds them as root, so they are not our concern.
        Err(_) => PortState::Free,
    }
}

/// For the `up` preflight: `Some(" by pid 4242 (`registry serve ...`)")` when the port is
/// busy (an empty string when the holder is unknown), `None` when free.
pub fn port_in_use(addr: IpAddr, port: u16) -> Option<String> {
    match port_state(addr, port) {
        PortState::Busy { holder } => Some(holder_suffix(holder.as_ref())),
        _ => None,
    }
}

fn holder_suffix(holder: Option<&Holder>) -> String {
    match holder {
        Some(h) => format!(" by pid {} (`{}`)", h.pid, h.command),
        None => String::new(),
    }
}

/// The check for one port devenv will publish; `setting` is the devenv.toml key that
/// chooses it (`registry.port`).
pub fn check_port(addr: IpAddr, port: u16, setting: &str) -> Check {
    evaluate_port(addr, port, setting, &port_state(addr, port))
}

/// [`check_port`] on an observed state.
pub fn evaluate_port(addr: IpAddr, port: u16, setting: &str, state: &PortState) -> Check {
    let name = format!("port {port}");
    match state {
        PortState::Free => Check::ok(name, format!("port {port} on {addr} is free ({setting})")),
        PortState::Busy { holder } => {
            let mut fix = format!("stop it or set {setting} in devenv.toml");
            if holder
                .as_ref()
                .is_some_and(|h| h.command.starts_with("docker-proxy"))
            {
                fix = format!(
                    "a container publishes it (`docker ps --filter publish={port}`): stop it or set {setting} in devenv.toml"
                );
            }
            Check::fail(
                name,
                format!(
                    "port {port} on {addr} is already in use{}",
                    holder_suffix(holder.as_ref())
                ),
                fix,
            )
        }
        PortState::BadAddress => Check::fail(
            name,
            format!("{addr} is not an address of this machine"),
            format!("use 127.0.0.1 (or 0.0.0.0) for {setting} in devenv.toml"),
        ),
    }
}
