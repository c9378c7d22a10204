//! FETCH and STORE (RFC 3501 sections 6.4.5 and 6.4.6), with their CONDSTORE and
//! QRESYNC modifiers (RFC 7162): data items, macros, body sections and partials.

use super::super::types::{
    BodySection, CommandBody, Fetch, FetchItem, Section, SectionText, Store, StoreAction,
};
use super::lex::{Cursor, R};

/// `FETCH SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
/// "(" fetch-att *(SP fetch-att) ")") [SP "(" fetch-modifier *(SP ...) ")"]`.
pub(super) fn fetch(c: &mut Cursor<'_>, uid: bool) -> R<CommandBody> {
    use FetchItem as F;
    c.sp()?;
    let set = c.seq_set()?;
    c.sp()?;
    let items = if c.peek() == Some(b'(') {
        c.list(false, "fetch items", item)?
    } else if c.eat_keyword(b"ALL") {
        vec![F::Flags, F::InternalDate, F::Rfc822Size, F::Envelope]
    } else if c.eat_keyword(b"FAST") {
        vec![F::Flags, F::InternalDate, F::Rfc822Size]
    } else if c.eat_keyword(b"FULL") {
        vec![
            F::Flags,
            F::InternalDate,
            F::Rfc822Size,
            F::Envelope,
            F::Body,
        ]
    } else {
        vec![item(c)?]
    };
    let (mut changed_since, mut vanished) = (None, false);
    if !c.at_end() {
        c.sp()?;
        c.list(false, "fetch modifiers", |c| {
            match c.keyword("a fetch modifier")?.as_str() {
                "CHANGEDSINCE" if changed_since.is_none() => {
                    c.sp()?;
                    changed_since = Some(c.modseq(false)?);
                }
                "VANISHED" if !vanished => vanished = true,
                _ => return Err("unknown or repeated fetch modifier".into()),
            }
            Ok(())
        })?;
    }
    // RFC 7162 section 3.2.6: both are BAD.
    if vanished && !uid {
        return Err("VANISHED is only allowed in UID FETCH".into());
    }
    if vanished && changed_since.is_none() {
        return Err("VANISHED needs CHANGEDSINCE".into());
    }
    Ok(CommandBody::Fetch(Fetch {
        uid,
        set,
        items,
        changed_since,
        vanished,
    }))
}

/// One `fetch-att`.
fn item(c: &mut Cursor<'_>) -> R<FetchItem> {
    use FetchItem as F;
    let name = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'.');
    Ok(match name.to_ascii_uppercase().as_slice() {
        b"ENVELOPE" => F::Envelope,
        b"FLAGS" => F::Flags,
        b"INTERNALDATE" => F::InternalDate,
        b"RFC822" => F::Rfc822,
        b"RFC822.HEADER" => F::Rfc822Header,
        b"RFC822.SIZE" => F::Rfc822Size,
        b"RFC822.TEXT" => F::Rfc822Text,
        b"BODYSTRUCTURE" => F::BodyStructure,
        b"UID" => F::Uid,
        b"MODSEQ" => F::ModSeq,
        b"BODY" if c.peek() != Some(b'[') => F::Body,
        b"BODY" => F::Section(section(c, false)?),
        b"BODY.PEEK" => F::Section(section(c, true)?),
        b"" => return Err(c.expected("a fetch item")),
        _ => return Err("unknown fetch item".into()),
    })
}

/// `section ["<" number "." nz-number ">"]`.
fn section(c: &mut Cursor<'_>, peek: bool) -> R<BodySection> {
    c.expect(b'[', "'[' opening the section")?;
    let section = section_spec(c)?;
    c.expect(b']', "']' closing the section")?;
    let mut partial = None;
    if c.eat(b'<') {
        let offset = c.number()?;
        c.expect(b'.', "'.' in the partial range")?;
        let length = c.nz_number()?;
        c.expect(b'>', "'>' closing the partial range")?;
        partial = Some((offset, length));
    }
    Ok(BodySection {
        peek,
        section,
        partial,
    })
}

/// `[section-spec]`: `section-msgtext`, or `section-part ["." section-text]`.
fn section_spec(c: &mut Cursor<'_>) -> R<Section> {
    let mut s = Section::default();
    if c.peek() == Some(b']') {
        return Ok(s);
    }
    if !c.peek().is_some_and(|b| b.is_ascii_digit()) {
        s.text = Some(section_text(c, false)?);
        return Ok(s);
    }
    loop {
        s.part.push(c.nz_number()?);
        if !c.eat(b'.') {
            return Ok(s);
        }
        if !c.peek().is_some_and(|b| b.is_ascii_digit()) {
            s.text = Some(section_text(c, true)?);
            return Ok(s);
        }
    }
}

/// `section-msgtext`, or after a part number `section-text` (which adds MIME).
fn section_text(c: &mut Cursor<'_>, after_part: bool) -> R<SectionText> {
    let name = c.take_while(|b| b.is_ascii_alphabetic() || b == b'.');
    Ok(match name.to_ascii_uppercase().as_slice() {
        b"HEADER" => SectionText::Header,
        b"HEADER.FIELDS" => SectionText::HeaderFields(header_list(c)?),
        b"HEADER.FIELDS.NOT" => SectionText::HeaderFieldsNot(header_list(c)?),
        b"TEXT" => SectionText::Text,
        b"MIME" if after_part => SectionText::Mime,
        b"MIME" => return Err("MIME needs a part number".into()),
        _ => return Err("unknown section: expected HEADER, HEADER.FIELDS, TEXT or MIME".into()),
    })
}

/// `SP "(" header-fld-name *(SP header-fld-name) ")"`.
fn header_list(c: &mut Cursor<'_>) -> R<Vec<Vec<u8>>> {
    c.sp()?;
    c.list(false, "header field names", Cursor::astring)
}

/// `STORE SP sequence-set [SP "(" UNCHANGEDSINCE SP mod-sequence-valzer ")"] SP
/// ["+" / "-"] "FLAGS" [".SILENT"] SP (flag-list / flag *(SP flag))`.
pub(super) fn store(c: &mut Cursor<'_>, uid: bool) -> R<CommandBody> {
    c.sp()?;
    let set = c.seq_set()?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.peek() == Some(b'(') {
        c.list(false, "store modifiers", |c| {
            match c.keyword("a store modifier")?.as_str() {
                "UNCHANGEDSINCE" if unchanged_since.is_none() => {
                    c.sp()?;
                    unchanged_since = Some(c.modseq(true)?);
                }
                _ => return Err("unknown or repeated store modifier".into()),
            }
            Ok(())
        })?;
        c.sp()?;
    }
    let action = if c.eat(b'+') {
        StoreAction::Add
    } else if c.eat(b'-') {
        StoreAction::Remove
    } else {
        StoreAction::Replace
    };
    let silent = match c.keyword("FLAGS or FLAGS.SILENT")?.as_str() {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return Err("expected FLAGS or FLAGS.SILENT".into()),
    };
    c.sp()?;
    let flags = if c.peek() == Some(b'(') {
        c.flag_list()?
    } else {
        let mut flags = vec![c.flag()?];
        while c.eat(b' ') {
            flags.push(c.flag()?);
        }
        flags
    };
    Ok(CommandBody::Store(Store {
        uid,
        set,
        unchanged_since,
        action,
        silent,
        flags,
    }))
}
