//! NetworkPolicy enforcement probe (`devenv verify`).
