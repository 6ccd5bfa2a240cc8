//! The format-neutral element tree both readers produce and the validator walks.
//!
//! FHIR's JSON and XML forms describe the same element model; converting both into this
//! small tree lets one validator judge every card. Strings borrow from the request body
//! where no unescaping was needed.

use std::borrow::Cow;
use std::fmt::Write as _;

/// A primitive value as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Prim<'a> {
    Str(Cow<'a, str>),
    /// A JSON number or boolean; no element of the card takes one.
    Other,
}

/// How an element appeared in the source: JSON tells arrays from single values, XML does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Single,
    Array,
    Unknown,
}

#[derive(Debug, Default)]
pub(crate) struct Element<'a> {
    /// Set on resources (`resourceType` in JSON, the wrapper element's name in XML).
    pub resource_type: Option<Cow<'a, str>>,
    pub value: Option<Prim<'a>>,
    /// Children in document order; a repeated element appears once per occurrence.
    pub children: Vec<Child<'a>>,
}

#[derive(Debug)]
pub(crate) struct Child<'a> {
    pub name: Cow<'a, str>,
    pub shape: Shape,
    pub el: Element<'a>,
}

impl<'a> Element<'a> {
    /// All occurrences of a child element.
    pub fn all<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s Element<'a>> + use<'s, 'n, 'a> {
        self.children.iter().filter(move |c| c.name == name).map(|c| &c.el)
    }

    pub fn first(&self, name: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.name == name).map(|c| &c.el)
    }

    /// The string value of this element, if it has one.
    pub fn str(&self) -> Option<&str> {
        match &self.value {
            Some(Prim::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The string value of the first child `name`.
    pub fn str_of(&self, name: &str) -> Option<&str> {
        self.first(name).and_then(Element::str)
    }
}

/// One step of a location.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'p> {
    Root(&'p str),
    Field(&'p str),
    Index(usize),
}

/// A FHIRPath-like location kept as a linked list on the stack, rendered only when an
/// issue is reported: walking a valid card allocates no paths.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    seg: Seg<'p>,
}

impl<'p> Path<'p> {
    pub fn root(name: &'p str) -> Self {
        Path { parent: None, seg: Seg::Root(name) }
    }

    pub fn field<'s>(&'s self, name: &'s str) -> Path<'s> {
        Path { parent: Some(self), seg: Seg::Field(name) }
    }

    pub fn index(&self, i: usize) -> Path<'_> {
        Path { parent: Some(self), seg: Seg::Index(i) }
    }

    pub fn render(&self) -> String {
        let mut segs = Vec::with_capacity(12);
        let mut cur = Some(self);
        while let Some(p) = cur {
            segs.push(p.seg);
            cur = p.parent;
        }
        let mut out = String::with_capacity(64);
        for seg in segs.iter().rev() {
            push_seg(&mut out, *seg);
        }
        out
    }
}

pub(crate) fn push_seg(out: &mut String, seg: Seg<'_>) {
    match seg {
        Seg::Root(n) => out.push_str(n),
        Seg::Field(n) => {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(n);
        }
        Seg::Index(i) => {
            let _ = write!(out, "[{i}]");
        }
    }
}
