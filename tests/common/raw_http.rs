//! Raw HTTP/1.1 exchanges, for what the SDK cannot express (malformed requests, headers, content codings), and the CRC32 DynamoDB puts in `x-amz-crc32`.

use super::*;

#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body text if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}): status {} body {:?}",
                self.status,
                self.body_str()
            )
        })
    }

    /// The `__type` of an error body, if any.
    pub fn error_type(&self) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get("__type")?
            .as_str()
            .map(str::to_owned)
    }

    /// The message of an error body (`message`, or `Message` as some coral errors spell it).
    pub fn error_message(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("message")
            .or_else(|| v.get("Message"))?
            .as_str()
            .map(str::to_owned)
    }
}

pub fn raw_http_post(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    content_length: usize,
    body: &[u8],
) -> std::io::Result<RawResponse> {
    let mut stream = connect(addr)?;
    stream.write_all(request_head(addr, headers, content_length).as_bytes())?;
    // The server may answer (e.g. 413) and close before reading a large body; still try
    // to read whatever response it sent.
    let write_result = stream.write_all(body).and_then(|_| stream.flush());
    read_response(&mut stream, write_result)
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    Ok(stream)
}

/// One exchange with exactly this request line and these headers, plus Host and
/// `Connection: close`: for what the other raw helpers add on their own (a signature,
/// the POST method). The body goes with a Content-Length, or chunked in pieces of
/// `chunk` bytes.
pub fn raw_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    chunk: Option<usize>,
) -> std::io::Result<RawResponse> {
    let mut stream = connect(addr)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match chunk {
        Some(_) => head.push_str("Transfer-Encoding: chunked\r\n"),
        None => head.push_str(&format!("Content-Length: {}\r\n", body.len())),
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    let write_result = match chunk {
        None => stream.write_all(body),
        Some(size) => body
            .chunks(size.max(1))
            .try_for_each(|piece| {
                stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
                stream.write_all(piece)?;
                stream.write_all(b"\r\n")
            })
            .and_then(|_| stream.write_all(b"0\r\n\r\n")),
    }
    .and_then(|_| stream.flush());
    read_response(&mut stream, write_result)
}

/// Reads a response (whatever arrived, even if writing the request failed part-way).
fn read_response(
    stream: &mut TcpStream,
    write_result: std::io::Result<()>,
) -> std::io::Result<RawResponse> {
    // Read until a complete response has arrived (by Content-Length or the final chunk),
    // or the server closes the connection.
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let read_result = loop {
        if response_complete(&raw) {
            break Ok(());
        }
        match stream.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(k) => raw.extend_from_slice(&buf[..k]),
            Err(e) => break Err(e),
        }
    };
    if raw.is_empty() {
        write_result?;
        read_result?;
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed without a response",
        ));
    }
    parse_http_response(&raw)
}

/// The head of a `POST /` with the given extra headers, plus Host, Content-Length,
/// Connection: close, X-Amz-Date and an Authorization header in SigV4 form.
fn request_head(addr: SocketAddr, headers: &[(&str, &str)], content_length: usize) -> String {
    let mut req = String::new();
    req.push_str("POST / HTTP/1.1\r\n");
    req.push_str(&format!("Host: {addr}\r\n"));
    req.push_str("X-Amz-Date: 20240101T000000Z\r\n");
    req.push_str(
        "Authorization: AWS4-HMAC-SHA256 \
         Credential=AKIDCIRRUSTEST/20240101/us-east-1/dynamodb/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
         Signature=0000000000000000000000000000000000000000000000000000000000000000\r\n",
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {content_length}\r\n"));
    req.push_str("Connection: close\r\n\r\n");
    req
}

/// Writes a `POST /` with the given extra headers (plus Host, Content-Length,
/// Connection: close, X-Amz-Date and an Authorization header in SigV4 form) and body.
pub fn write_request(
    stream: &mut TcpStream,
    addr: SocketAddr,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    stream.write_all(request_head(addr, headers, body.len()).as_bytes())?;
    // The server may answer (e.g. 413) and close before reading a large body; the caller
    // still tries to read whatever response it sent.
    stream.write_all(body).and_then(|_| stream.flush())
}

/// Whether `raw` holds a whole HTTP response (headers plus the body they announce).
fn response_complete(raw: &[u8]) -> bool {
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let body = &raw[head_end + 4..];
    for line in head.split("\r\n") {
        if let Some(v) = line.strip_prefix("content-length:") {
            return v.trim().parse::<usize>().is_ok_and(|len| body.len() >= len);
        }
        if line.starts_with("transfer-encoding:") && line.contains("chunked") {
            return decode_chunked(body).is_some();
        }
    }
    false
}

fn parse_http_response(raw: &[u8]) -> std::io::Result<RawResponse> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| bad("headers not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut headers = Vec::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let rest = &raw[head_end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        decode_chunked(rest).ok_or_else(|| bad("bad chunked body"))?
    } else if let Some((_, len)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        if rest.len() < len {
            return Err(bad("body shorter than content-length"));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn decode_chunked(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

const fn crc32_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC32_TABLE: [u32; 256] = crc32_table();

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = CRC32_TABLE[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}
