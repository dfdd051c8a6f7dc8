// Node-RED settings for bench/serve-vs-nodered.sh: the defaults, with the editor and admin API
// switched off (they cost memory, not per-request work) and logging at `warn`.
// The flow file, user directory and port are given on the command line.
module.exports = {
    httpAdminRoot: false,
    uiHost: "127.0.0.1",
    credentialSecret: false,
    logging: { console: { level: "warn", metrics: false, audit: false } },
    functionExternalModules: false,
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
};
