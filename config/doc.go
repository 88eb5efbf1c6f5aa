// Package config resolves the configuration of a gradlab experiment.
//
// An experiment declares its keys once, as a [Schema] of typed [Param]s.
// [Schema.Resolve] then layers the values it finds, lowest precedence first:
//
//	defaults < preset < YAML file < GRADLAB_* environment < --set key=value
//
// and returns a [Config] whose every value has the type its default fixed.
// The layering itself is done by a private viper instance per call (no
// global state); parsing and validation are done here, strictly, rather
// than through viper's lenient casts, so that "abc" never becomes 0.
//
// # Keys
//
// Keys are dotted lower-case names such as "epochs", "optim.lr" or
// "model.widths"; each segment is made of a-z, 0-9 and '_'. In a YAML
// file a dotted key may be written flat ("optim.lr: 0.1") or nested
// ("optim: {lr: 0.1}"), but not both ways at once. Keys are matched
// without regard to letter case in files, the environment and --set. No
// key may be a prefix segment of another ("model" and "model.widths"
// cannot both exist), and no two keys may map to the same environment
// variable. A null or an empty mapping in a file is ignored above known
// keys ("model:") and an error anywhere else; a file holds one YAML
// document.
//
// # Environment
//
// A key maps to the variable GRADLAB_ followed by the key with dots and
// underscores turned into '_' and letters upper-cased: "optim.lr" ↔
// GRADLAB_OPTIM_LR, "batch_size" ↔ GRADLAB_BATCH_SIZE. Names are compared
// case-insensitively. A GRADLAB_ variable that matches no key is an error
// unless it is on the allow-list of non-configuration variables
// ([Sources.EnvAllow], [DefaultEnvAllow] when nil). Two variables that
// set the same key (GRADLAB_SEED and gradlab_seed) are an error.
//
// # Output
//
// [Config.YAML] writes the resolved values as the run directory's
// config.yaml; it depends only on the schema and the values, reads back
// to the same values, and equal values give identical bytes.
// [Config.Hash] is a SHA-256 of the values alone, for checkpoints.
//
// # Types and value syntax
//
// The Go type of a Param's default fixes the key's type:
//
//   - int: a decimal integer ("42", "-3", "+7"). A literal in float
//     notation ("1e3", "2.0") is accepted only when its value is an exact
//     integer of magnitude at most 2^53; "1.5", "abc", "0x10" and "1_000"
//     are errors.
//   - float64: a decimal literal, with optional exponent ("0.1", "3",
//     "1e-4", ".5"). Integers are accepted. NaN, infinities, hexadecimal
//     floats and overflowing literals are errors.
//   - bool: true, false (any letter case), 1 or 0.
//   - string: any valid UTF-8 text, taken verbatim from env and --set.
//   - []int, []float64, []string: in YAML files, YAML lists; in the
//     environment and --set, comma-separated elements optionally wrapped in
//     brackets: "64,32", "[64, 32]", "[]" (empty). Elements are trimmed;
//     an empty element is an error, so string elements cannot contain
//     commas or be empty.
//
// The same rules apply to a YAML value that is a quoted string and to
// a preset value given as a string. Non-string YAML values must have a
// compatible YAML type: an int key accepts a YAML integer (or an integral
// float as above), a float key a YAML integer or float, a bool key a YAML
// bool or the integers 0 and 1, a string key only a YAML string (quote
// numbers meant as text), a list key only a YAML list. A null value is an
// error everywhere.
//
// # Errors
//
// Every problem found in every layer is reported at once, each naming the
// layer, the key (or variable, or --set argument) and the offending value;
// unknown keys carry a suggestion when an accepted key is close, and the
// accepted keys are listed. Errors match [ErrUnknownKey], [ErrBadValue],
// [ErrBadSet] or [ErrFile] with errors.Is.
package config
