fn main() {
    // Die quietly on a closed pipe, as the Go tools do.
    // SAFETY: restoring the default disposition of SIGPIPE before any output.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(devenv_fakes::k3d::main(argv));
}
