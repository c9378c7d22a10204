//! BODYSTRUCTURE and BODY (RFC 3501 section 7.4.2, RFC 9051 section 7.5.2).
//!
//! BODY is BODYSTRUCTURE without the extension data, so both come from one writer.

use super::content::Content;
use super::quote;
use super::tree::{Body, Part};

/// A multipart must have at least one part; one without any (no boundary, or the
/// boundary never appears) is shown with a single empty text/plain part so clients
/// that assume the grammar's `1*body` do not break.
const EMPTY_BODY: &[u8] = b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)";
const EMPTY_BODYSTRUCTURE: &[u8] =
    b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)";

/// Writes the message's top-level part without its outer parentheses.
///
/// A plain us-ascii 7bit text/plain message, the most common shape, is written in
/// one canonical spelling whatever the case of its header values: Dovecot serves it
/// that way, and the values are case-insensitive (RFC 2045 section 5.1).
pub(crate) fn write_root(out: &mut Vec<u8>, root: &Part, extended: bool) {
    if !is_plain_7bit(root) {
        write(out, root, extended);
        return;
    }
    out.extend_from_slice(b"\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" ");
    out.extend_from_slice(root.body_counts.virtual_size().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(root.body_counts.lf.to_string().as_bytes());
    if extended {
        out.extend_from_slice(b" NIL NIL NIL NIL");
    }
}

fn is_plain_7bit(part: &Part) -> bool {
    let c = &part.content;
    if !matches!(part.body, Body::Leaf) {
        return false;
    }
    let type_ok = match &c.ctype {
        None => true,
        Some(ct) => {
            ct.ty.eq_ignore_ascii_case(b"text")
                && ct.subtype.eq_ignore_ascii_case(b"plain")
                && match ct.params.as_slice() {
                    [] => true,
                    [(k, v)] => {
                        k.eq_ignore_ascii_case(b"charset") && v.eq_ignore_ascii_case(b"us-ascii")
                    }
                    _ => false,
                }
        }
    };
    type_ok
        && c.encoding
            .as_deref()
            .is_none_or(|e| e.eq_ignore_ascii_case(b"7bit"))
        && c.id.is_none()
        && c.description.is_none()
        && c.md5.is_none()
        && c.disposition.is_none()
        && c.language.is_none()
        && c.location.is_none()
}

/// Writes one part without its outer parentheses.
pub(crate) fn write(out: &mut Vec<u8>, part: &Part, extended: bool) {
    let Body::Multipart(children) = &part.body else {
        write_single(out, part, extended);
        return;
    };
    if children.is_empty() {
        out.extend_from_slice(if extended {
            EMPTY_BODYSTRUCTURE
        } else {
            EMPTY_BODY
        });
    }
    for child in children {
        out.push(b'(');
        write(out, child, extended);
        out.push(b')');
    }
    let ctype = part.content.ctype.as_ref();
    out.push(b' ');
    quote::string(out, ctype.map_or(&b""[..], |c| &c.subtype));
    if extended {
        out.push(b' ');
        write_params(out, ctype.map_or(&[][..], |c| c.params.as_slice()), false);
        write_common_extensions(out, &part.content);
    }
}

fn write_single(out: &mut Vec<u8>, part: &Part, extended: bool) {
    let c = &part.content;
    let text = match (&part.body, &c.ctype) {
        (Body::Message(_), _) => {
            out.extend_from_slice(b"\"message\" \"rfc822\"");
            false
        }
        (Body::Truncated, _) => {
            out.extend_from_slice(b"\"application\" \"octet-stream\"");
            false
        }
        // RFC 2045 section 5.2: no Content-Type means text/plain; charset=us-ascii.
        (_, None) => {
            out.extend_from_slice(b"\"text\" \"plain\"");
            true
        }
        (_, Some(ct)) => {
            quote::string(out, &ct.ty);
            out.push(b' ');
            quote::string(out, &ct.subtype);
            ct.ty.eq_ignore_ascii_case(b"text")
        }
    };
    out.push(b' ');
    write_params(
        out,
        c.ctype.as_ref().map_or(&[][..], |c| c.params.as_slice()),
        text,
    );
    out.push(b' ');
    quote::nstring_nolf(out, c.id.as_deref());
    out.push(b' ');
    quote::nstring_nolf(out, c.description.as_deref());
    out.push(b' ');
    match &c.encoding {
        Some(e) => quote::string(out, e),
        None => out.extend_from_slice(b"\"7bit\""),
    }
    out.push(b' ');
    out.extend_from_slice(part.body_counts.virtual_size().to_string().as_bytes());
    if text {
        out.push(b' ');
        out.extend_from_slice(part.body_counts.lf.to_string().as_bytes());
    } else if let Body::Message(child) = &part.body {
        out.extend_from_slice(b" (");
        match &child.envelope {
            Some(env) => env.write(out),
            None => out.extend_from_slice(b"NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL"),
        }
        out.extend_from_slice(b") (");
        write(out, child, extended);
        out.extend_from_slice(b") ");
        out.extend_from_slice(part.body_counts.lf.to_string().as_bytes());
    }
    if extended {
        out.push(b' ');
        quote::nstring_nolf(out, c.md5.as_deref());
        write_common_extensions(out, c);
    }
}

/// Text parts always report a charset: us-ascii is the default (RFC 2045 section 5.2).
fn write_params(out: &mut Vec<u8>, params: &[(Vec<u8>, Vec<u8>)], default_charset: bool) {
    if params.is_empty() && !default_charset {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    let mut seen_charset = false;
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        seen_charset |= k.eq_ignore_ascii_case(b"charset");
        quote::string(out, k);
        out.push(b' ');
        quote::string(out, v);
    }
    if default_charset && !seen_charset {
        if !params.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(b"\"charset\" \"us-ascii\"");
    }
    out.push(b')');
}

/// body-fld-dsp, body-fld-lang and body-fld-loc.
fn write_common_extensions(out: &mut Vec<u8>, c: &Content) {
    out.push(b' ');
    match &c.disposition {
        None => out.extend_from_slice(b"NIL"),
        Some((disp, params)) => {
            out.push(b'(');
            quote::string(out, disp);
            out.push(b' ');
            write_params(out, params, false);
            out.push(b')');
        }
    }
    out.push(b' ');
    match &c.language {
        None => out.extend_from_slice(b"NIL"),
        Some(langs) => {
            out.push(b'(');
            for (i, l) in langs.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                quote::string(out, l);
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    quote::nstring_nolf(out, c.location.as_deref());
}
