//! A small real SMTP server for the tests, on 127.0.0.1 and an ephemeral port.
//!
//! Speaks EHLO/HELO, STARTTLS or implicit TLS (rustls with an rcgen CA and a "localhost"
//! certificate), AUTH PLAIN/LOGIN, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP and QUIT, and
//! injects faults: a given reply for the first N transactions, a dropped connection after
//! DATA, stalled connections. One thread per connection; it stops when dropped.

#![allow(dead_code)]

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the server secures connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain text only; STARTTLS is not offered.
    #[default]
    None,
    /// Plain text, STARTTLS offered; AUTH is offered only after it.
    Starttls,
    /// TLS from the first byte.
    Implicit,
}

/// Where an injected failure reply is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailAt {
    /// In reply to MAIL FROM.
    MailFrom,
    /// In reply to the end of DATA (the message has been transferred).
    #[default]
    EndOfData,
}

/// What the server does.
#[derive(Debug, Clone)]
pub struct SmtpOptions {
    /// Plain, STARTTLS or implicit TLS.
    pub tls: SmtpTls,
    /// Required AUTH user and password; `None`: no AUTH offered or required.
    pub auth: Option<(String, String)>,
    /// The first this-many transactions (MAIL FROM … DATA) fail with `fail_reply`.
    pub fail_first: usize,
    /// The reply for failed transactions, e.g. `451 4.3.0 try later`.
    pub fail_reply: String,
    /// Where the failure reply is given.
    pub fail_at: FailAt,
    /// The first this-many transactions have their connection dropped after the message
    /// was transferred, before any reply.
    pub drop_after_data_first: usize,
    /// The first this-many connections are accepted but never greeted (a hung server).
    pub stall_first_connections: usize,
    /// Largest message accepted (552 above it).
    pub max_message_bytes: usize,
    /// Listen on this loopback port (a test that first needs the port closed); `None`: any.
    pub port: Option<u16>,
}

impl Default for SmtpOptions {
    fn default() -> Self {
        SmtpOptions {
            tls: SmtpTls::None,
            auth: None,
            fail_first: 0,
            fail_reply: "451 4.3.0 try later".to_owned(),
            fail_at: FailAt::EndOfData,
            drop_after_data_first: 0,
            stall_first_connections: 0,
            max_message_bytes: 32 * 1024 * 1024,
            port: None,
        }
    }
}

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The MAIL FROM address (no angle brackets).
    pub mail_from: String,
    /// The RCPT TO addresses, in order.
    pub rcpt_to: Vec<String>,
    /// The message, dot-unstuffed, CRLF line ends, without the final `.`.
    pub data: Vec<u8>,
    /// The authenticated user, if any.
    pub auth_user: Option<String>,
    /// Whether the transaction ran over TLS.
    pub tls: bool,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    transactions: usize,
    connections: usize,
    auth_failures: usize,
}

struct Shared {
    opts: SmtpOptions,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

/// A running server; stops (and frees its port) when dropped.
pub struct SmtpServer {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    ca_pem: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

/// A test CA and a "localhost" certificate it signed.
struct TestPki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn test_pki() -> TestPki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "xsolla-recon test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    TestPki {
        ca_pem: ca.pem(),
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

impl SmtpServer {
    /// Starts a server on 127.0.0.1:0.
    pub fn start(opts: SmtpOptions) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let (tls, ca_pem) = if opts.tls == SmtpTls::None {
            (None, None)
        } else {
            let pki = test_pki();
            let path = dir.path().join("ca.pem");
            std::fs::write(&path, &pki.ca_pem).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(pki.chain, pki.key)
                .unwrap();
            (Some(Arc::new(config)), Some(path))
        };
        let listener = TcpListener::bind(("127.0.0.1", opts.port.unwrap_or(0))).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            opts,
            tls,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s = Arc::clone(&shared);
        let accept = std::thread::spawn(move || accept_loop(listener, s));
        SmtpServer {
            port,
            shared,
            accept: Some(accept),
            ca_pem,
            _dir: dir,
        }
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.state.lock().unwrap().received.clone()
    }

    /// The test CA's certificate (PEM) for the client's `ca_file`; `None` without TLS.
    pub fn ca_pem_path(&self) -> Option<PathBuf> {
        self.ca_pem.clone()
    }

    /// Waits until at least `n` messages were accepted (or `timeout`), then returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state.lock().unwrap();
        while st.received.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self.shared.changed.wait_timeout(st, left).unwrap().0;
        }
        st.received.clone()
    }

    /// Transactions started (MAIL FROM commands), failed ones included.
    pub fn transactions(&self) -> usize {
        self.shared.state.lock().unwrap().transactions
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.shared.state.lock().unwrap().connections
    }

    /// Failed AUTH attempts.
    pub fn auth_failures(&self) -> usize {
        self.shared.state.lock().unwrap().auth_failures
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let index = {
                    let mut st = shared.state.lock().unwrap();
                    st.connections += 1;
                    st.connections - 1
                };
                let s = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    if index < s.opts.stall_first_connections {
                        while !s.stop.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        return;
                    }
                    let _ = Session::new(stream, &s).and_then(|mut sess| sess.run());
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
    Gone,
}

impl Stream {
    fn io(&mut self) -> io::Result<&mut dyn ReadWrite> {
        match self {
            Stream::Plain(s) => Ok(s),
            Stream::Tls(s) => Ok(s.as_mut()),
            Stream::Gone => Err(io::Error::other("stream gone")),
        }
    }

    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(&s.sock),
            Stream::Gone => None,
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Longest command line accepted (RFC 5321 says 512; AUTH lines can be longer).
const MAX_LINE: usize = 16 * 1024;

struct Session<'a> {
    shared: &'a Shared,
    stream: Stream,
    buf: Vec<u8>,
    tls: bool,
    auth_user: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    /// Index of the current transaction (set by MAIL FROM).
    transaction: usize,
}

impl<'a> Session<'a> {
    fn new(tcp: TcpStream, shared: &'a Shared) -> io::Result<Session<'a>> {
        let (stream, tls) = match (&shared.opts.tls, &shared.tls) {
            (SmtpTls::Implicit, Some(cfg)) => (tls_stream(tcp, cfg)?, true),
            _ => (Stream::Plain(tcp), false),
        };
        Ok(Session {
            shared,
            stream,
            buf: Vec::new(),
            tls,
            auth_user: None,
            mail_from: None,
            rcpt_to: Vec::new(),
            transaction: 0,
        })
    }

    fn send(&mut self, line: &str) -> io::Result<()> {
        let io = self.stream.io()?;
        io.write_all(line.as_bytes())?;
        io.write_all(b"\r\n")?;
        io.flush()
    }

    /// One line without its CRLF; `None` at end of stream.
    fn line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if self.buf.len() > MAX_LINE {
                return Err(io::Error::other("line too long"));
            }
            let mut chunk = [0u8; 8192];
            let n = match self.stream.io()?.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn auth_offered(&self) -> bool {
        self.shared.opts.auth.is_some() && (self.tls || self.shared.opts.tls == SmtpTls::None)
    }

    fn run(&mut self) -> io::Result<()> {
        self.send("220 localhost ESMTP xsolla-recon test server")?;
        while let Some(line) = self.line()? {
            let text = String::from_utf8_lossy(&line).into_owned();
            let (verb, arg) = match text.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_owned()),
                None => (text.trim().to_ascii_uppercase(), String::new()),
            };
            match verb.as_str() {
                "EHLO" => {
                    let mut caps = vec![
                        "250-localhost".to_owned(),
                        "250-8BITMIME".to_owned(),
                        "250-PIPELINING".to_owned(),
                        format!("250-SIZE {}", self.shared.opts.max_message_bytes),
                    ];
                    if self.shared.opts.tls == SmtpTls::Starttls && !self.tls {
                        caps.push("250-STARTTLS".to_owned());
                    }
                    if self.auth_offered() {
                        caps.push("250-AUTH PLAIN LOGIN".to_owned());
                    }
                    caps.push("250 SMTPUTF8".to_owned());
                    for c in caps {
                        self.send(&c)?;
                    }
                }
                "HELO" => self.send("250 localhost")?,
                "STARTTLS" => {
                    let cfg = match (&self.shared.opts.tls, &self.shared.tls, self.tls) {
                        (SmtpTls::Starttls, Some(cfg), false) => Arc::clone(cfg),
                        _ => {
                            self.send("454 4.7.0 TLS not available")?;
                            continue;
                        }
                    };
                    self.send("220 2.0.0 ready to start TLS")?;
                    // Anything pipelined before the handshake is discarded (RFC 3207).
                    self.buf.clear();
                    let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone)
                    else {
                        return Ok(());
                    };
                    self.stream = tls_stream(tcp, &cfg)?;
                    self.tls = true;
                    self.auth_user = None;
                    self.reset();
                }
                "AUTH" => self.auth(&arg)?,
                "MAIL" => self.mail(&arg)?,
                "RCPT" => {
                    if self.mail_from.is_none() {
                        self.send("503 5.5.1 MAIL first")?;
                    } else if let Some(addr) = path_arg(&arg, "TO:") {
                        self.rcpt_to.push(addr);
                        self.send("250 2.1.5 ok")?;
                    } else {
                        self.send("501 5.5.4 syntax: RCPT TO:<address>")?;
                    }
                }
                "DATA" => {
                    if self.rcpt_to.is_empty() {
                        self.send("503 5.5.1 RCPT first")?;
                        continue;
                    }
                    if !self.data()? {
                        return Ok(());
                    }
                }
                "RSET" => {
                    self.reset();
                    self.send("250 2.0.0 ok")?;
                }
                "NOOP" => self.send("250 2.0.0 ok")?,
                "QUIT" => {
                    self.send("221 2.0.0 bye")?;
                    return Ok(());
                }
                _ => self.send("502 5.5.2 command not implemented")?,
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    fn mail(&mut self, arg: &str) -> io::Result<()> {
        if self.shared.opts.auth.is_some() && self.auth_user.is_none() {
            return self.send("530 5.7.0 authentication required");
        }
        let Some(addr) = path_arg(arg, "FROM:") else {
            return self.send("501 5.5.4 syntax: MAIL FROM:<address>");
        };
        self.transaction = {
            let mut st = self.shared.state.lock().unwrap();
            st.transactions += 1;
            st.transactions - 1
        };
        if self.shared.opts.fail_at == FailAt::MailFrom && self.failing() {
            let reply = self.shared.opts.fail_reply.clone();
            return self.send(&reply);
        }
        self.reset();
        self.mail_from = Some(addr);
        self.send("250 2.1.0 ok")
    }

    fn failing(&self) -> bool {
        self.transaction < self.shared.opts.fail_first
    }

    /// Reads the message; returns false when the connection is to be dropped.
    fn data(&mut self) -> io::Result<bool> {
        self.send("354 end data with <CR><LF>.<CR><LF>")?;
        let mut data = Vec::new();
        let mut too_big = false;
        loop {
            let Some(mut line) = self.line()? else {
                return Ok(false);
            };
            if line == b"." {
                break;
            }
            if line.first() == Some(&b'.') {
                line.remove(0);
            }
            if data.len() + line.len() + 2 > self.shared.opts.max_message_bytes {
                too_big = true;
                continue;
            }
            data.extend_from_slice(&line);
            data.extend_from_slice(b"\r\n");
        }
        if self.transaction < self.shared.opts.drop_after_data_first {
            if let Some(tcp) = self.stream.tcp() {
                let _ = tcp.shutdown(Shutdown::Both);
            }
            return Ok(false);
        }
        if too_big {
            self.reset();
            self.send("552 5.3.4 message too big")?;
            return Ok(true);
        }
        if self.shared.opts.fail_at == FailAt::EndOfData && self.failing() {
            self.reset();
            let reply = self.shared.opts.fail_reply.clone();
            self.send(&reply)?;
            return Ok(true);
        }
        let received = Received {
            mail_from: self.mail_from.take().unwrap_or_default(),
            rcpt_to: std::mem::take(&mut self.rcpt_to),
            data,
            auth_user: self.auth_user.clone(),
            tls: self.tls,
        };
        {
            let mut st = self.shared.state.lock().unwrap();
            st.received.push(received);
        }
        self.shared.changed.notify_all();
        self.send("250 2.0.0 ok: queued")?;
        Ok(true)
    }

    fn auth(&mut self, arg: &str) -> io::Result<()> {
        let Some((user, pass)) = self.shared.opts.auth.clone() else {
            return self.send("502 5.5.1 AUTH not available");
        };
        if !self.auth_offered() {
            return self.send("538 5.7.11 encryption required for AUTH");
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let decode = |s: &str| {
            b64.decode(s.trim())
                .ok()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        let (mech, initial) = match arg.split_once(' ') {
            Some((m, i)) => (m.to_ascii_uppercase(), Some(i.to_owned())),
            None => (arg.to_ascii_uppercase(), None),
        };
        let given: Option<(String, String)> = match mech.as_str() {
            "PLAIN" => {
                let resp = match initial {
                    Some(i) => i,
                    None => {
                        self.send("334 ")?;
                        self.next_text()?
                    }
                };
                decode(&resp).and_then(|s| {
                    let mut parts = s.split('\0');
                    let _authzid = parts.next()?;
                    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
                })
            }
            "LOGIN" => {
                let u = match initial {
                    Some(i) => i,
                    None => {
                        self.send("334 VXNlcm5hbWU6")?;
                        self.next_text()?
                    }
                };
                self.send("334 UGFzc3dvcmQ6")?;
                let p = self.next_text()?;
                decode(&u).zip(decode(&p))
            }
            _ => return self.send("504 5.5.4 mechanism not supported"),
        };
        match given {
            Some((u, p)) if u == user && p == pass => {
                self.auth_user = Some(u);
                self.send("235 2.7.0 authentication successful")
            }
            _ => {
                self.shared.state.lock().unwrap().auth_failures += 1;
                self.send("535 5.7.8 authentication credentials invalid")
            }
        }
    }

    fn next_text(&mut self) -> io::Result<String> {
        match self.line()? {
            Some(l) => Ok(String::from_utf8_lossy(&l).into_owned()),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed in AUTH",
            )),
        }
    }
}

fn tls_stream(tcp: TcpStream, cfg: &Arc<rustls::ServerConfig>) -> io::Result<Stream> {
    let conn = rustls::ServerConnection::new(Arc::clone(cfg)).map_err(io::Error::other)?;
    Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
}

/// `FROM:<a@b> SIZE=…` → `a@b`.
fn path_arg(arg: &str, prefix: &str) -> Option<String> {
    let rest = arg.get(..prefix.len())?;
    if !rest.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}
