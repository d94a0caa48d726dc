package config

// Flags records the command-line values of every Field so that they can be
// applied last, over the file and the environment.
type Flags struct {
	shown Config
	recs  []*recorder
}

type recorder struct {
	field Field
	shown Value
	raws  []string
}

func (r *recorder) String() string { return r.shown.String() }
func (r *recorder) Type() string   { return r.shown.Type() }
func (r *recorder) Set(v string) error {
	if err := r.shown.Set(v); err != nil {
		return err
	}
	r.raws = append(r.raws, v)
	return nil
}

// IsBoolFlag lets pflag accept a bool flag without a value.
func (r *recorder) IsBoolFlag() bool {
	b, ok := r.shown.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// NewFlags returns a Flags whose values show the defaults in help.
func NewFlags() *Flags {
	f := &Flags{shown: Default()}
	for _, fd := range Fields() {
		f.recs = append(f.recs, &recorder{field: fd, shown: fd.Bind(&f.shown)})
	}
	return f
}

// Register calls add once per Field with a Value to register as a flag
// (for cobra: cmd.Flags().Var(v, name, usage)).
func (f *Flags) Register(add func(v Value, name, usage string)) {
	for _, r := range f.recs {
		add(r, r.field.Flag, r.field.Usage+" (env "+r.field.Env+")")
	}
}

// Apply sets every flag given on the command line over c.
func (f *Flags) Apply(c *Config) error {
	for _, r := range f.recs {
		if len(r.raws) == 0 {
			continue
		}
		v := r.field.Bind(c)
		for _, raw := range r.raws {
			if err := v.Set(raw); err != nil {
				return err
			}
		}
	}
	return nil
}

// Load builds the configuration in precedence order: defaults, the YAML
// file at path (if any), the environment (through lookupEnv), then flags.
func Load(path string, lookupEnv func(string) (string, bool), flags *Flags) (Config, error) {
	c := Default()
	if path != "" {
		if err := c.LoadFile(path); err != nil {
			return c, err
		}
	}
	if err := c.ApplyEnv(lookupEnv); err != nil {
		return c, err
	}
	if flags != nil {
		if err := flags.Apply(&c); err != nil {
			return c, err
		}
	}
	return c, c.Validate()
}
