//! Expressions that only read a variable's members (`params.from`, `vars.page.status`,
//! `item.id`), read without the interpreter.
//!
//! Such paths are most of the holes of a flow's templates and many of its expressions. Each call
//! into Rhai costs a fixed setup (its runtime state, the operation counter, the clock) that is
//! far larger than looking a few names up in maps. The result is the one Rhai gives: a member's
//! value cloned (and so marked read-write, as Rhai's clone does), `()` for a missing last member
//! (the engine does not fail on unknown map properties). Anything else — a member of something
//! that is not a map, where Rhai would look for a property getter or fail — is left to the
//! interpreter.

use rhai::{AST, ASTFlags, Dynamic, Expr, ImmutableString, Map, Scope, Stmt};

/// `root.a.b…`: a variable and the members read one after the other.
#[derive(Debug)]
pub(crate) struct PlainPath {
    root: ImmutableString,
    members: Box<[ImmutableString]>,
}

impl PlainPath {
    /// The path `ast` is, if it is nothing but one.
    pub(crate) fn of(ast: &AST) -> Option<Self> {
        if ast.iter_functions().next().is_some() {
            return None;
        }
        let [Stmt::Expr(expr)] = ast.statements() else {
            return None;
        };
        let Expr::Dot(dot, flags, _) = &**expr else {
            return None;
        };
        let Expr::Variable(var, ..) = &dot.lhs else {
            return None;
        };
        if !var.2.path.is_empty() {
            return None;
        }
        let mut members = Vec::new();
        let (mut rest, mut flags) = (&dot.rhs, *flags);
        loop {
            // `?.` (NEGATED) and chain breaks are the interpreter's.
            if flags != ASTFlags::NONE {
                return None;
            }
            match rest {
                Expr::Property(property, ..) => {
                    members.push(property.2.clone());
                    break;
                }
                Expr::Dot(next, next_flags, _) => {
                    let Expr::Property(property, ..) = &next.lhs else {
                        return None;
                    };
                    members.push(property.2.clone());
                    (rest, flags) = (&next.rhs, *next_flags);
                }
                _ => return None,
            }
        }
        Some(Self { root: var.1.clone(), members: members.into_boxed_slice() })
    }

    /// The value at the path in `scope`; `None` when the interpreter must decide.
    pub(crate) fn read(&self, scope: &Scope<'_>) -> Option<Dynamic> {
        let root = scope.get(&self.root)?;
        read_in(root, &self.members)
    }
}

fn read_in(value: &Dynamic, members: &[ImmutableString]) -> Option<Dynamic> {
    let (name, rest) = members.split_first()?;
    let map = value.read_lock::<Map>()?;
    match (map.get(name.as_str()), rest) {
        (Some(member), []) => Some(member.clone()),
        (Some(member), rest) => read_in(member, rest),
        (None, []) => Some(Dynamic::UNIT),
        // `().b` is the interpreter's error to give.
        (None, _) => None,
    }
}
