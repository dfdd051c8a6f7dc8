//! What of Rhai's standard library expressions get, and the repairs it needs.
//!
//! Left out: the language-core package (`sleep`, which blocks the thread past every time
//! limit, `exit`, `tag`/`take`) and the time package (`timestamp()` reads the system clock
//! behind the run's own clock, which tests set with `given.now`). `ExprEngine::function_names`
//! lists what is offered, and a test keeps `docs/EXPRESSIONS.md` in step with it.
//!
//! Repaired: a native function runs between two of the budget's checks, so one that never
//! returns escapes every limit. Rhai's `pad(len, "")` loops for ever (the empty padding never
//! lengthens the string); it is replaced by one that refuses an empty padding.

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicBlobPackage, BasicFnPackage, BasicIteratorPackage,
    BasicMapPackage, BasicMathPackage, BasicStringPackage, BitFieldPackage, LogicPackage,
    MoreStringPackage, Package,
};
use rhai::{Engine, EvalAltResult, INT, ImmutableString, NativeCallContext, Position};

/// Registers the standard library expressions get, with its repairs.
pub(crate) fn install(engine: &mut Engine) {
    for package in [
        ArithmeticPackage::new().as_shared_module(),
        BasicStringPackage::new().as_shared_module(),
        BasicIteratorPackage::new().as_shared_module(),
        BasicFnPackage::new().as_shared_module(),
        BitFieldPackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicBlobPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(package);
    }
    // Registered on the engine itself, which Rhai searches before its packages.
    engine.register_fn("pad", pad_with_string);
}

/// `string.pad(len, padding)`: `padding` repeated (the last copy cut) until `string` is `len`
/// characters long.
fn pad_with_string(
    ctx: NativeCallContext,
    string: &mut ImmutableString,
    len: INT,
    padding: &str,
) -> Result<(), Box<EvalAltResult>> {
    let Ok(len) = usize::try_from(len) else {
        return Ok(());
    };
    let too_long = || EvalAltResult::ErrorDataTooLarge("Length of string".into(), Position::NONE);
    let max = ctx.engine().max_string_size();
    if max > 0 && len > max {
        return Err(too_long().into());
    }
    let have = string.chars().count();
    if len <= have {
        return Ok(());
    }
    if padding.is_empty() {
        return Err("pad: the padding is empty, so the string can never reach its length".into());
    }
    let mut padded = string.to_string();
    padded.extend(padding.chars().cycle().take(len - have));
    if max > 0 && padded.len() > max {
        return Err(too_long().into());
    }
    *string = padded.into();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_fills_with_the_padding_and_refuses_none() {
        let mut engine = Engine::new_raw();
        install(&mut engine);
        let padded = |script: &str| engine.eval::<String>(script);
        assert_eq!(padded(r#"let s = "ab"; s.pad(7, "xyz"); s"#).unwrap(), "abxyzxy");
        assert_eq!(padded(r#"let s = "abcdef"; s.pad(3, "x"); s"#).unwrap(), "abcdef");
        assert_eq!(padded(r#"let s = "é"; s.pad(3, "ü"); s"#).unwrap(), "éüü");
        assert!(padded(r#"let s = "ab"; s.pad(7, ""); s"#).is_err());
        assert_eq!(padded(r#"let s = "ab"; s.pad(1, ""); s"#).unwrap(), "ab");
    }
}
