//! Loading deploy/terraform with hcl-rs, and the small query helpers the
//! policies use. Every policy is a function `fn(&Tf) -> Outcome`; the tests
//! run it against the real configuration (it must pass) and against mutated
//! copies of it (each must fail), so that no policy can pass vacuously.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hcl::expr::{Expression, ObjectKey, TemplateExpr, TraversalOperator};
use hcl::template::{Directive, Element, Template};
use hcl::{Block, Body};

/// Result of a policy: `Err` lists every violation found.
pub type Outcome = Result<(), String>;

/// One textual edit of one file: (file relative to deploy/terraform, text to
/// find, replacement). Runs of whitespace in the text to find match any run of
/// whitespace, so `terraform fmt` re-alignment does not break the mutations.
pub type Edit = (&'static str, &'static str, &'static str);

pub fn terraform_dir() -> PathBuf {
    match std::env::var_os("NEWSREAD_TF_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/terraform"),
    }
}

/// A top-level block of a Terraform module (resource, data, variable...).
#[derive(Debug, Clone)]
pub struct Item {
    pub file: String,
    pub block: Block,
}

impl Item {
    pub fn kind(&self) -> &str {
        self.block.identifier()
    }
    pub fn label(&self, i: usize) -> &str {
        self.block.labels().get(i).map(|l| l.as_str()).unwrap_or("")
    }
    pub fn body(&self) -> &Body {
        self.block.body()
    }
    pub fn address(&self) -> String {
        let labels: Vec<&str> = self.block.labels().iter().map(|l| l.as_str()).collect();
        format!("{} {}", self.kind(), labels.join("."))
    }
}

/// One Terraform module: the .tf files of one directory.
#[derive(Debug, Default, Clone)]
pub struct Module {
    pub dir: String,
    pub items: Vec<Item>,
}

/// deploy/terraform: the root module plus modules/*.
#[derive(Debug, Clone)]
pub struct Tf {
    pub sources: BTreeMap<String, String>,
    pub modules: BTreeMap<String, Module>,
}

fn collect_tf_files(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if !name.starts_with('.') {
                collect_tf_files(root, &path, out);
            }
        } else if name.ends_with(".tf") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// Find `needle` in `hay`, where each run of whitespace in the needle matches
/// one or more whitespace characters in the haystack. Returns the byte range.
pub fn find_flexible(hay: &str, needle: &str) -> Option<(usize, usize)> {
    let tokens: Vec<&str> = needle.split_whitespace().collect();
    if tokens.is_empty() {
        return None;
    }
    let starts_ws = needle.starts_with(char::is_whitespace);
    let mut from = 0;
    while let Some(pos) = hay[from..].find(tokens[0]) {
        let start = from + pos;
        let mut i = start + tokens[0].len();
        let mut ok = true;
        for tok in &tokens[1..] {
            let rest = &hay[i..];
            let ws = rest.len() - rest.trim_start().len();
            if ws == 0 || !rest[ws..].starts_with(tok) {
                ok = false;
                break;
            }
            i += ws + tok.len();
        }
        if ok {
            let mut s = start;
            if starts_ws {
                while s > 0
                    && hay.as_bytes()[s - 1].is_ascii_whitespace()
                    && hay.as_bytes()[s - 1] != b'\n'
                {
                    s -= 1;
                }
            }
            return Some((s, i));
        }
        from = start + 1;
    }
    None
}

/// When the replacement has as many words as the text it replaces, reuse the
/// matched text's whitespace between them, so that multi-line matches stay
/// multi-line (HCL needs one attribute per line).
fn keep_layout(matched: &str, from: &str, to: &str) -> String {
    let to_words: Vec<&str> = to.split_whitespace().collect();
    if from.split_whitespace().count() != to_words.len() || to.contains('\n') {
        return to.to_string();
    }
    let mut seps = vec![];
    let mut rest = matched.trim_start();
    let lead = &matched[..matched.len() - rest.len()];
    while let Some(i) = rest.find(char::is_whitespace) {
        let after = rest[i..].trim_start();
        seps.push(&rest[i..rest.len() - after.len()]);
        rest = after;
    }
    let mut out = lead.to_string();
    for (i, w) in to_words.iter().enumerate() {
        out.push_str(w);
        if let Some(sep) = seps.get(i) {
            if i + 1 < to_words.len() {
                out.push_str(sep);
            }
        }
    }
    out
}

/// Every attribute value of a body (nested blocks included), with its key.
pub fn all_attributes<'a>(body: &'a Body, out: &mut Vec<(&'a str, &'a Expression)>) {
    for a in body.attributes() {
        out.push((a.key(), a.expr()));
    }
    for b in body.blocks() {
        all_attributes(b.body(), out);
    }
}

/// An expression's text with `var.`/`local.` references followed, element
/// by element for arrays.
pub fn resolved_text(m: &Module, e: &Expression) -> String {
    match m.resolve(e) {
        Expression::Array(items) => items
            .iter()
            .map(|i| show(&m.resolve(i)))
            .collect::<Vec<_>>()
            .join(", "),
        other => show(&other),
    }
}

impl Tf {
    /// Parse every .tf file under deploy/terraform (or $NEWSREAD_TF_DIR).
    pub fn load() -> Tf {
        let root = terraform_dir();
        let mut sources = BTreeMap::new();
        collect_tf_files(&root, &root, &mut sources);
        assert!(
            sources.keys().any(|k| !k.contains('/')),
            "no .tf file found in {}",
            root.display()
        );
        Tf::from_sources(sources)
    }

    pub fn from_sources(sources: BTreeMap<String, String>) -> Tf {
        let mut modules: BTreeMap<String, Module> = BTreeMap::new();
        for (file, text) in &sources {
            let body: Body =
                hcl::parse(text).unwrap_or_else(|e| panic!("{file}: HCL parse error: {e}"));
            let dir = match file.rfind('/') {
                Some(i) => file[..i].to_string(),
                None => String::new(),
            };
            let module = modules
                .entry(dir.clone())
                .or_insert_with(|| Module { dir, items: vec![] });
            for block in body.blocks() {
                module.items.push(Item {
                    file: file.clone(),
                    block: block.clone(),
                });
            }
        }
        Tf { sources, modules }
    }

    /// A copy of the configuration with the edits applied. Panics if an edit's
    /// text is missing, so that mutations cannot silently stop mutating.
    pub fn mutated(&self, edits: &[Edit]) -> Tf {
        let mut sources = self.sources.clone();
        for (file, from, to) in edits {
            let text = sources
                .get_mut(*file)
                .unwrap_or_else(|| panic!("mutation names unknown file {file}"));
            let (s, e) = find_flexible(text, from)
                .unwrap_or_else(|| panic!("mutation text not found in {file}:\n{from}\n(update the mutation to the current .tf)"));
            let replacement = keep_layout(&text[s..e], from, to);
            text.replace_range(s..e, &replacement);
        }
        Tf::from_sources(sources)
    }

    pub fn root(&self) -> &Module {
        self.modules.get("").expect("root module")
    }
}

impl Module {
    pub fn items_of(&self, kind: &str) -> impl Iterator<Item = &Item> {
        let kind = kind.to_string();
        self.items.iter().filter(move |i| i.kind() == kind)
    }

    /// resource "typ" "name" blocks of one type.
    pub fn resources(&self, typ: &str) -> Vec<&Item> {
        self.items_of("resource")
            .filter(|i| i.label(0) == typ)
            .collect()
    }

    pub fn resource(&self, typ: &str, name: &str) -> Option<&Item> {
        self.items_of("resource")
            .find(|i| i.label(0) == typ && i.label(1) == name)
    }

    pub fn data(&self, typ: &str, name: &str) -> Option<&Item> {
        self.items_of("data")
            .find(|i| i.label(0) == typ && i.label(1) == name)
    }

    pub fn datas(&self, typ: &str) -> Vec<&Item> {
        self.items_of("data")
            .filter(|i| i.label(0) == typ)
            .collect()
    }

    pub fn variable(&self, name: &str) -> Option<&Item> {
        self.items_of("variable").find(|i| i.label(0) == name)
    }

    pub fn locals(&self) -> BTreeMap<String, Expression> {
        let mut out = BTreeMap::new();
        for item in self.items_of("locals") {
            for a in item.body().attributes() {
                out.insert(a.key().to_string(), a.expr().clone());
            }
        }
        out
    }

    pub fn local(&self, name: &str) -> Option<Expression> {
        self.locals().remove(name)
    }

    /// Default value of a variable, if it has one.
    pub fn var_default(&self, name: &str) -> Option<Expression> {
        self.variable(name)
            .and_then(|v| attr(v.body(), "default").cloned())
    }

    /// Follow `var.x` to its default and `local.x` to its expression (once each).
    pub fn resolve(&self, expr: &Expression) -> Expression {
        let mut e = expr.clone();
        for _ in 0..4 {
            let s = show(&e);
            if let Some(name) = s.strip_prefix("var.") {
                if is_ident(name) {
                    if let Some(d) = self.var_default(name) {
                        e = d;
                        continue;
                    }
                }
            }
            if let Some(name) = s.strip_prefix("local.") {
                if is_ident(name) {
                    if let Some(l) = self.local(name) {
                        e = l;
                        continue;
                    }
                }
            }
            break;
        }
        e
    }

    pub fn number(&self, expr: &Expression) -> Option<f64> {
        match self.resolve(expr) {
            Expression::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub fn boolean(&self, expr: &Expression) -> Option<bool> {
        match self.resolve(expr) {
            Expression::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn string(&self, expr: &Expression) -> Option<String> {
        match self.resolve(expr) {
            Expression::String(s) => Some(s),
            _ => None,
        }
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

pub fn blocks<'a>(body: &'a Body, ident: &str) -> Vec<&'a Block> {
    body.blocks().filter(|b| b.identifier() == ident).collect()
}

/// First nested block along a path of block names, e.g. ["redirect"].
pub fn block_path<'a>(body: &'a Body, path: &[&str]) -> Option<&'a Body> {
    let mut b = body;
    for p in path {
        b = blocks(b, p).into_iter().next()?.body();
    }
    Some(b)
}

/// Canonical HCL text of an expression, e.g. `aws_security_group.alb.id`.
pub fn show(expr: &Expression) -> String {
    hcl::format::to_string(expr)
        .unwrap_or_else(|_| format!("{expr:?}"))
        .trim()
        .to_string()
}

/// Text of an attribute, "" when absent.
pub fn attr_text(body: &Body, key: &str) -> String {
    attr(body, key).map(show).unwrap_or_default()
}

/// Literal string value of an attribute.
pub fn attr_str(body: &Body, key: &str) -> Option<String> {
    match attr(body, key)? {
        Expression::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Every string literal and every string inside an array literal.
pub fn strings(expr: &Expression) -> Vec<String> {
    match expr {
        Expression::String(s) => vec![s.clone()],
        Expression::Array(a) => a.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// Collect violations; turn them into an Outcome.
#[derive(Default)]
pub struct Violations(Vec<String>);

impl Violations {
    pub fn new() -> Self {
        Violations(vec![])
    }
    pub fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }
    pub fn push(&mut self, msg: String) {
        self.0.push(msg);
    }
    pub fn outcome(self) -> Outcome {
        if self.0.is_empty() {
            Ok(())
        } else {
            let mut s = String::new();
            for v in self.0 {
                let _ = writeln!(s, "  - {v}");
            }
            Err(s)
        }
    }
}

/// Run a policy on the real configuration (must pass) and on each mutation
/// (each must fail).
pub fn assert_policy(policy: fn(&Tf) -> Outcome, mutations: &[&[Edit]]) {
    let tf = Tf::load();
    if let Err(e) = policy(&tf) {
        panic!("deploy/terraform violates the policy:\n{e}");
    }
    assert!(
        !mutations.is_empty(),
        "every policy needs at least one mutation that breaks it"
    );
    for edits in mutations {
        let m = tf.mutated(edits);
        assert!(
            policy(&m).is_err(),
            "the policy still passes after this mutation, so it does not check what it claims:\n{edits:#?}"
        );
    }
}

// ------------------------------------------------------------ traversal ---

/// A reference found in an expression: root name and the attribute names
/// that follow it (`aws_lb.app.arn` -> ("aws_lb", ["app", "arn"])).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub root: String,
    pub attrs: Vec<String>,
}

fn walk_template(t: &Template, out: &mut Vec<Reference>) {
    for el in t.elements() {
        match el {
            Element::Literal(_) => {}
            Element::Interpolation(i) => walk_expr(&i.expr, out),
            Element::Directive(Directive::If(d)) => {
                walk_expr(&d.cond_expr, out);
                walk_template(&d.true_template, out);
                if let Some(f) = &d.false_template {
                    walk_template(f, out);
                }
            }
            Element::Directive(Directive::For(d)) => {
                walk_expr(&d.collection_expr, out);
                walk_template(&d.template, out);
            }
        }
    }
}

pub fn walk_expr(expr: &Expression, out: &mut Vec<Reference>) {
    match expr {
        Expression::Variable(v) => out.push(Reference {
            root: v.to_string(),
            attrs: vec![],
        }),
        Expression::Traversal(t) => {
            match &t.expr {
                Expression::Variable(v) => {
                    let mut attrs = vec![];
                    for op in &t.operators {
                        match op {
                            TraversalOperator::GetAttr(id) => attrs.push(id.to_string()),
                            _ => break,
                        }
                    }
                    out.push(Reference {
                        root: v.to_string(),
                        attrs,
                    });
                }
                other => walk_expr(other, out),
            }
            for op in &t.operators {
                if let TraversalOperator::Index(i) = op {
                    walk_expr(i, out);
                }
            }
        }
        Expression::Array(a) => a.iter().for_each(|e| walk_expr(e, out)),
        Expression::Object(o) => {
            for (k, v) in o.iter() {
                if let ObjectKey::Expression(k) = k {
                    // A bare word key parses as a variable; it is not a reference.
                    if !matches!(k, Expression::Variable(_)) {
                        walk_expr(k, out);
                    }
                }
                walk_expr(v, out);
            }
        }
        Expression::TemplateExpr(t) => {
            if let Ok(tpl) = Template::from_expr(t) {
                walk_template(&tpl, out);
            } else if let TemplateExpr::QuotedString(_) = **t {
                // unparsable template: nothing to follow
            }
        }
        Expression::FuncCall(f) => f.args.iter().for_each(|e| walk_expr(e, out)),
        Expression::Parenthesis(p) => walk_expr(p, out),
        Expression::Conditional(c) => {
            walk_expr(&c.cond_expr, out);
            walk_expr(&c.true_expr, out);
            walk_expr(&c.false_expr, out);
        }
        Expression::Operation(op) => match &**op {
            hcl::expr::Operation::Unary(u) => walk_expr(&u.expr, out),
            hcl::expr::Operation::Binary(b) => {
                walk_expr(&b.lhs_expr, out);
                walk_expr(&b.rhs_expr, out);
            }
        },
        Expression::ForExpr(f) => {
            walk_expr(&f.collection_expr, out);
            if let Some(k) = &f.key_expr {
                walk_expr(k, out);
            }
            walk_expr(&f.value_expr, out);
            if let Some(c) = &f.cond_expr {
                walk_expr(c, out);
            }
        }
        _ => {}
    }
}

/// Every reference in a block body, nested blocks included.
pub fn body_references(body: &Body, out: &mut Vec<Reference>) {
    for a in body.attributes() {
        walk_expr(a.expr(), out);
    }
    for b in body.blocks() {
        body_references(b.body(), out);
    }
}

/// All "resource type.name" addresses a module declares.
pub fn declared(module: &Module) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for i in &module.items {
        match i.kind() {
            "resource" => {
                out.insert(format!("{}.{}", i.label(0), i.label(1)));
            }
            "data" => {
                out.insert(format!("data.{}.{}", i.label(0), i.label(1)));
            }
            "variable" => {
                out.insert(format!("var.{}", i.label(0)));
            }
            "module" => {
                out.insert(format!("module.{}", i.label(0)));
            }
            "locals" => {
                for a in i.body().attributes() {
                    out.insert(format!("local.{}", a.key()));
                }
            }
            _ => {}
        }
    }
    out
}
