//! What `weft serve` and `weft studio` share as HTTP servers: how connections are accepted
//! ([`listen`]: header deadline, connection caps, making room under a flood of slow clients,
//! draining) and who may call ([`access`]: the access token, the `Host` and `Origin` rules).

pub mod access;
pub mod listen;
