use cordon_sandbox::*;
fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let wd = std::env::var_os("WD").map(std::path::PathBuf::from);
    let spec = SandboxSpec {
        name: "smoke".into(),
        command: args,
        env: vec![("PATH".into(), "/usr/bin:/bin".into()), ("HOME".into(), "/sandbox".into())],
        workdir: wd,
        read_only: ["/usr", "/bin", "/lib", "/lib64", "/etc", "/sbin"].iter().map(Into::into).collect(),
        read_write: vec![],
        extra_ro_files: vec![],
        landlock: LandlockMode::BestEffort,
        resources: Resources::default(),
        identity: Identity::SANDBOX,
        tty: std::env::var_os("TTY").is_some(),
        stdin: true,
        verbose: true,
        proxy_listen: Some("127.0.0.1:3128".parse().unwrap()),
    };
    match Sandbox::spawn(&spec) {
        Ok(mut s) => {
            for n in s.notices() { eprintln!("{n:?}"); }
            eprintln!("listener: {:?}", s.take_proxy_listener());
            let st = s.wait();
            eprintln!("status {st:?}");
        }
        Err(e) => eprintln!("ERR {e}"),
    }
}
