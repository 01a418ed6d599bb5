//! Is a port free, and if not, who holds it.

use std::io;
use std::net::{IpAddr, TcpListener};
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

/// Who listens on `port` in a way that conflicts with binding `addr`: the `listeners`
/// crate reads the sockets and their processes (Linux `/proc`, macOS, Windows, BSDs), with
/// the answer the hand-written `/proc/net/tcp` reader gave here (compared on this machine's
/// listeners, IPv4, IPv6 and wildcards). Sockets of other users' processes are not
/// readable without privileges: they are not listed, and the bind in [`port_state`] finds
/// the port busy without a holder, as before.
pub fn port_holder(port: u16, addr: IpAddr) -> Option<Holder> {
    let all = listeners::get_all().ok()?;
    // Ourselves first (tests bind in-process), then the lowest pid: the same each time.
    let me = std::process::id();
    all.iter()
        .filter(|l| {
            l.protocol == listeners::Protocol::TCP
                && l.state == listeners::SocketState::Listen
                && l.socket.port() == port
                && addrs_conflict(l.socket.ip(), addr)
        })
        .min_by_key(|l| (l.process.pid != me, l.process.pid))
        .map(|l| {
            // The command line where `/proc` has it (Linux), else the process name.
            let command = process_command(l.process.pid);
            Holder {
                pid: l.process.pid,
                command: if command.is_empty() {
                    l.process.name.clone()
                } else {
                    command
                },
            }
        })
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

/// Looks for a conflicting listener ([`port_holder`]), then tries to bind (macOS, other network
/// namespaces, sockets of other users hidden from us).
pub fn port_state(addr: IpAddr, port: u16) -> PortState {
    if let Some(holder) = port_holder(port, addr) {
        return PortState::Busy {
            holder: Some(holder),
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
