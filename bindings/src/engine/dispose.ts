/**
 * `[Symbol.dispose]()` for the package's classes, in every engine. The key is
 * the engine's `Symbol.dispose`, or where it has none (WebKit: Safari,
 * WebKitGTK 2.50) `Symbol.for("Symbol.dispose")`, the symbol that the `using`
 * of esbuild, Babel and oxc (Vite) falls back to: so `using` compiled by
 * those works in Safari as it is, and `Symbol.dispose ??=
 * Symbol.for("Symbol.dispose")` (what TypeScript's own `using` needs there)
 * matches it whenever it runs. (A class method `[Symbol.dispose]()` would be
 * keyed "undefined" there.) Each class declares the method for TypeScript
 * in an interface of the same name.
 */
export const disposeSymbol: symbol = typeof Symbol.dispose === "symbol" ? Symbol.dispose : Symbol.for("Symbol.dispose");

/** Defines `[Symbol.dispose]()`, which calls `dispose()`, on a class. */
export function disposable(cls: { prototype: { dispose(): void } }): void {
  Object.defineProperty(cls.prototype, disposeSymbol, {
    value: function (this: { dispose(): void }): void {
      this.dispose();
    },
    writable: true,
    configurable: true,
  });
}
