//! Compressed answers for clients that accept them: the documents and Swagger UI from shared
//! buffers compressed once, and JSON answers large enough for compression to pay and small
//! enough for it to end soon; compression runs off the request threads.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use poem::http::{header, HeaderMap, HeaderValue};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tokio::sync::OnceCell;

use super::gate::vary_by;

/// Answers smaller than this are sent as they are: compressing them saves less than it costs.
pub const MIN_COMPRESSED_BYTES: usize = 1024;

/// A content coding this server writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        }
    }

    /// `bytes` compressed on a thread kept for blocking work, so that the request threads go on
    /// answering meanwhile; `bytes` is dropped as soon as it is compressed.
    async fn compress_off_workers(self, bytes: Bytes, thorough: bool) -> Result<Bytes> {
        tokio::task::spawn_blocking(move || Bytes::from(self.compress(&bytes, thorough)))
            .await
            .map_err(|err| poem::Error::new(err, poem::http::StatusCode::INTERNAL_SERVER_ERROR))
    }

    /// `bytes` compressed; `thorough` spends more time for a smaller result (done once).
    fn compress(self, bytes: &[u8], thorough: bool) -> Vec<u8> {
        match self {
            Self::Brotli => {
                let quality = if thorough { 9 } else { 4 };
                let mut out = Vec::with_capacity(bytes.len() / 4);
                let mut writer = brotli::CompressorWriter::new(&mut out, 16 * 1024, quality, 20);
                writer.write_all(bytes).expect("writes to memory");
                drop(writer);
                out
            }
            Self::Gzip => {
                let level = if thorough { 9 } else { 4 };
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(bytes.len() / 4),
                    flate2::Compression::new(level),
                );
                encoder.write_all(bytes).expect("writes to memory");
                encoder.finish().expect("writes to memory")
            }
        }
    }
}

/// The coding to answer with: brotli or gzip, whichever the client weighs higher (brotli on a
/// tie); none when it accepts neither (`q=0` refuses a coding; `*` stands for both).
pub fn negotiate(headers: &HeaderMap) -> Option<Coding> {
    let mut best: Option<(Coding, u32)> = None;
    let offers = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for offer in offers {
        let mut parts = offer.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let weight = parts
            .find_map(|param| param.strip_prefix("q="))
            .map_or(Some(1000), |q| {
                q.parse::<f32>()
                    .ok()
                    .map(|q| (q.clamp(0.0, 1.0) * 1000.0) as u32)
            })
            .unwrap_or(0);
        let codings: &[Coding] = match name.to_ascii_lowercase().as_str() {
            "br" => &[Coding::Brotli],
            "gzip" | "x-gzip" => &[Coding::Gzip],
            "*" => &[Coding::Brotli, Coding::Gzip],
            _ => &[],
        };
        for &coding in codings {
            let better = match best {
                None => weight > 0,
                Some((chosen, chosen_weight)) => {
                    weight > chosen_weight
                        || (weight == chosen_weight && coding == Coding::Brotli && chosen != coding)
                }
            };
            if better {
                best = Some((coding, weight));
            }
        }
    }
    best.map(|(coding, _)| coding)
}

/// A document served from one buffer shared by every answer, each compressed form made once,
/// when a client first asks for it.
#[derive(Clone)]
pub struct SharedDocument(Arc<Variants>);

struct Variants {
    content_type: &'static str,
    identity: Bytes,
    brotli: OnceCell<Bytes>,
    gzip: OnceCell<Bytes>,
}

impl SharedDocument {
    pub fn new(content: String, content_type: &'static str) -> Self {
        Self(Arc::new(Variants {
            content_type,
            identity: Bytes::from(content),
            brotli: OnceCell::new(),
            gzip: OnceCell::new(),
        }))
    }

    /// The document in `coding`, compressed off the request threads the first time.
    async fn compressed(&self, coding: Coding) -> Result<Bytes> {
        let cell = match coding {
            Coding::Brotli => &self.0.brotli,
            Coding::Gzip => &self.0.gzip,
        };
        let compressed = cell
            .get_or_try_init(|| coding.compress_off_workers(self.0.identity.clone(), true))
            .await?;
        Ok(compressed.clone())
    }
}

impl Endpoint for SharedDocument {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let response = Response::builder()
            .content_type(self.0.content_type)
            .header(header::VARY, "Accept-Encoding");
        Ok(match negotiate(req.headers()) {
            Some(coding) => response
                .header(header::CONTENT_ENCODING, coding.name())
                .body(Body::from_bytes(self.compressed(coding).await?)),
            None => response.body(Body::from_bytes(self.0.identity.clone())),
        })
    }
}

/// Compresses JSON answers of at least `MIN_COMPRESSED_BYTES` and at most `max_bytes` for
/// clients that accept it (a larger answer would keep a thread busy for long: it is sent as it
/// is).
pub struct CompressJson {
    max_bytes: usize,
}

impl CompressJson {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes }
    }
}

impl<E: Endpoint> Middleware<E> for CompressJson {
    type Output = CompressJsonEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CompressJsonEndpoint {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

pub struct CompressJsonEndpoint<E> {
    inner: E,
    max_bytes: usize,
}

impl<E: Endpoint> Endpoint for CompressJsonEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let coding = negotiate(req.headers());
        let mut response = self.inner.call(req).await?.into_response();
        let is_json = response
            .content_type()
            .is_some_and(|content_type| content_type.starts_with("application/json"));
        if !is_json || response.headers().contains_key(header::CONTENT_ENCODING) {
            return Ok(response);
        }
        vary_by(response.headers_mut(), "Accept-Encoding");
        let Some(coding) = coding else {
            return Ok(response);
        };
        let body = response.take_body().into_bytes().await?;
        if !(MIN_COMPRESSED_BYTES..=self.max_bytes).contains(&body.len()) {
            response.set_body(body);
            return Ok(response);
        }
        response.headers_mut().insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(coding.name()),
        );
        response.set_body(coding.compress_off_workers(body, false).await?);
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(value: &str) -> Option<Coding> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        negotiate(&headers)
    }

    #[test]
    fn the_client_weights_decide_and_brotli_wins_ties() {
        assert_eq!(accepting("gzip, deflate, br"), Some(Coding::Brotli));
        assert_eq!(accepting("gzip"), Some(Coding::Gzip));
        assert_eq!(accepting("br;q=0.5, gzip;q=0.8"), Some(Coding::Gzip));
        assert_eq!(accepting("br;q=0, gzip"), Some(Coding::Gzip));
        assert_eq!(accepting("*"), Some(Coding::Brotli));
        assert_eq!(accepting("identity"), None);
        assert_eq!(accepting("gzip;q=0"), None);
        assert_eq!(negotiate(&HeaderMap::new()), None);
    }

    #[test]
    fn both_codings_give_back_what_they_were_given() {
        use std::io::Read;
        let text = "task ".repeat(1000);
        let mut gunzipped = String::new();
        flate2::read::GzDecoder::new(&Coding::Gzip.compress(text.as_bytes(), false)[..])
            .read_to_string(&mut gunzipped)
            .unwrap();
        assert_eq!(gunzipped, text);
        let mut unbrotlied = Vec::new();
        brotli::Decompressor::new(&Coding::Brotli.compress(text.as_bytes(), true)[..], 4096)
            .read_to_end(&mut unbrotlied)
            .unwrap();
        assert_eq!(unbrotlied, text.as_bytes());
    }
}
