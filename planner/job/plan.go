package job

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/inferplan/inferplan/planner/job/channel"
	"github.com/inferplan/inferplan/platform/awslambda"
	"github.com/inferplan/inferplan/pricing"
)

// Options are what a plan needs besides the job.
type Options struct {
	Catalog *pricing.Catalog
	Params  channel.Params
	Inputs  Inputs
}

// InfeasibleError says no configuration meets the job's deadline (or budget). The plan is still returned.
type InfeasibleError struct {
	Msg string
}

func (e *InfeasibleError) Error() string { return e.Msg }

// Cluster is where one configuration runs, for Predict.
type Cluster struct {
	Channel string
	Workers channel.Workers
	// VCPUsPerWorker scales each stage's compute rate.
	VCPUsPerWorker float64
}

// Predict is the model's time for the job on a cluster: set-up, then per stage the compute over each worker's
// partition followed by the stage's communication (stages are separated by their communication, so they add).
func Predict(j *Job, m channel.Model, c Cluster) (Breakdown, []channel.Comm, error) {
	n := float64(c.Workers.N)
	b := Breakdown{SetupS: m.Setup(c.Channel, c.Workers)}
	comms := make([]channel.Comm, len(j.Stages))
	for i, s := range j.Stages {
		st := StageTime{Op: s.Op}
		if s.ComputeMBPerS > 0 {
			st.ComputeS = j.InputBytes() / n / (s.ComputeMBPerS * 1e6 * c.VCPUsPerWorker)
		}
		bytes := s.MB * 1e6
		if s.Op == channel.Shuffle && s.MB == 0 {
			bytes = j.InputBytes()
		}
		comm, err := m.Time(c.Channel, s.Op, c.Workers, bytes)
		if err != nil {
			return Breakdown{}, nil, err
		}
		comms[i] = comm
		st.CommS = comm.Seconds
		b.ComputeS += st.ComputeS
		b.CommS += comm.Seconds
		b.Stages = append(b.Stages, st)
	}
	return b, comms, nil
}

func (b Breakdown) total() float64 { return b.SetupS + b.ComputeS + b.CommS }

// Build predicts every configuration the job asks about and picks one. When none meets the deadline (or the
// budget) it returns the plan and an *InfeasibleError naming the fastest (or cheapest) configuration.
func Build(j *Job, o Options) (*Plan, error) {
	lp, ok := o.Catalog.Lambda(j.Arch)
	if !ok {
		return nil, j.Errorf("arch", "the price catalog has no Lambda prices for %s", j.Arch)
	}
	if err := o.Params.Validate(); err != nil {
		return nil, fmt.Errorf("channel parameters: %w", err)
	}
	m := channel.Model{P: o.Params}
	p := &Plan{
		Version: Version, Platform: Platform, Job: *j, Inputs: o.Inputs,
		Pricing:       Pricing{Arch: j.Arch, GBSecondUSD: lp.GBSecondUSD(), RequestUSD: lp.RequestUSD, AsOf: o.Catalog.AsOf(), CatalogSource: o.Catalog.Source()},
		ChannelParams: o.Params,
	}
	p.Job.Workers = sortedInts(j.Workers)
	p.Job.LambdaMemoryMB = sortedInts(j.LambdaMemoryMB)
	data := j.InputBytes()
	workingBytes := func(workers int) float64 { return data / float64(workers) * j.MemoryOverhead }

	for _, ch := range j.Channels {
		for _, mem := range p.Job.LambdaMemoryMB {
			for _, n := range p.Job.Workers {
				vcpu := o.Params.Lambda.VCPUs(mem)
				cl := Cluster{Channel: ch, VCPUsPerWorker: vcpu,
					Workers: channel.Workers{N: n, NICBps: o.Params.Lambda.NetworkBps(mem), PerHost: 1}}
				b, comms, err := Predict(j, m, cl)
				if err != nil {
					return nil, err
				}
				b.SetupS += o.Params.Lambda.StartS
				t := b.total()
				c := Configuration{
					ID: fmt.Sprintf("lambda-%d-%dmb-%s", n, mem, ch), Platform: "lambda", Workers: n, MemoryMB: mem,
					Channel: ch, VCPUs: float64(n) * vcpu, TimeS: t, Breakdown: b, Feasible: true,
				}
				c.Cost.ComputeUSD = float64(n) * awslambda.InvocationUSD(t*1000, mem, lp.GBSecondUSD(), lp.RequestUSD)
				for _, cm := range comms {
					c.Cost.RequestsUSD += m.RequestsUSD(ch, cm)
				}
				c.Cost.ServerUSD = m.ServerUSD(ch, t)
				if need := workingBytes(n); need > float64(mem)*(1<<20) {
					c.Feasible = false
					c.Reasons = append(c.Reasons, fmt.Sprintf("each worker needs %s of working memory (%.1f × its %s partition), more than %d MB",
						humanBytes(need), j.MemoryOverhead, humanBytes(data/float64(n)), mem))
				}
				if t > o.Params.Lambda.MaxDurationS {
					c.Feasible = false
					c.Reasons = append(c.Reasons, fmt.Sprintf("%.0f s is longer than Lambda's %.0f s limit", t, o.Params.Lambda.MaxDurationS))
				}
				p.Configurations = append(p.Configurations, c)
			}
		}
	}
	for i, typ := range j.EC2Types {
		field := fmt.Sprintf("ec2_types[%d]", i)
		in, ok := o.Catalog.Instance(typ)
		if !ok {
			return nil, j.Errorf(field, "%q is not an EC2 instance type in the price catalog", typ)
		}
		price, ok := o.Catalog.OnDemandPrice(typ)
		if !ok {
			return nil, j.Errorf(field, "%s has no on-demand price in the catalog (as of %s)", typ, o.Catalog.AsOf())
		}
		hostBps, known := channel.EC2NetworkBps(typ)
		if !known {
			hostBps = o.Params.EC2.DefaultNetworkBps
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: network bandwidth unknown; assumed %s each way (ec2.default_network_bytes_per_s)", typ, humanRate(hostBps)))
		}
		for _, n := range p.Job.Workers {
			instances := (n + in.VCPUs - 1) / in.VCPUs
			perHost := (n + instances - 1) / instances
			cl := Cluster{Channel: channel.EC2, VCPUsPerWorker: 1,
				Workers: channel.Workers{N: n, PerHost: perHost, HostBps: hostBps}}
			b, _, err := Predict(j, m, cl)
			if err != nil {
				return nil, err
			}
			b.SetupS += o.Params.EC2.BootS
			t := b.total()
			c := Configuration{
				ID: fmt.Sprintf("ec2-%d-%s", n, typ), Platform: "ec2", Workers: n, EC2Type: typ, Instances: instances,
				Channel: channel.EC2, VCPUs: float64(n), TimeS: t, Breakdown: b, Feasible: true,
			}
			c.Cost.ComputeUSD = float64(instances) * price * math.Max(t, o.Params.EC2.BillingMinimumS) / 3600
			if need := float64(perHost) * workingBytes(n); need > in.MemoryGiB*(1<<30) {
				c.Feasible = false
				c.Reasons = append(c.Reasons, fmt.Sprintf("%d workers per instance need %s of working memory, more than the %g GiB of a %s",
					perHost, humanBytes(need), in.MemoryGiB, typ))
			}
			p.Configurations = append(p.Configurations, c)
		}
	}
	for i := range p.Configurations {
		c := &p.Configurations[i]
		c.CostUSD = c.Cost.ComputeUSD + c.Cost.RequestsUSD + c.Cost.ServerUSD
	}
	scaling(p.Configurations)
	for i := range p.Configurations {
		round(&p.Configurations[i])
	}
	return p, p.recommend()
}

// scaling fills efficiency and speedup against the smallest worker count of each series.
func scaling(cs []Configuration) {
	base := map[string]*Configuration{}
	for i := range cs {
		c := &cs[i]
		if b := base[c.Series()]; b == nil || c.Workers < b.Workers {
			base[c.Series()] = c
		}
	}
	for i := range cs {
		c := &cs[i]
		b := base[c.Series()]
		if c.TimeS > 0 {
			c.Speedup = b.TimeS / c.TimeS
			c.Efficiency = b.TimeS * float64(b.Workers) / (c.TimeS * float64(c.Workers))
		}
	}
}

// round keeps a microsecond, a billionth of a dollar and four digits of efficiency, so plans are identical
// across machines whose floating point differs in the last bits.
func round(c *Configuration) {
	// through the decimal text, so JSON shows 3.847993 rather than 3.8479929999999998
	r := func(v, unit float64) float64 {
		d := int(math.Round(-math.Log10(unit)))
		out, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', d, 64), 64)
		return out
	}
	c.TimeS = r(c.TimeS, 1e-6)
	c.CostUSD = r(c.CostUSD, 1e-9)
	c.Efficiency = r(c.Efficiency, 1e-4)
	c.Speedup = r(c.Speedup, 1e-4)
	c.VCPUs = r(c.VCPUs, 1e-4)
	b := &c.Breakdown
	b.SetupS, b.ComputeS, b.CommS = r(b.SetupS, 1e-6), r(b.ComputeS, 1e-6), r(b.CommS, 1e-6)
	for i := range b.Stages {
		b.Stages[i].ComputeS, b.Stages[i].CommS = r(b.Stages[i].ComputeS, 1e-6), r(b.Stages[i].CommS, 1e-6)
	}
	c.Cost.ComputeUSD, c.Cost.RequestsUSD, c.Cost.ServerUSD = r(c.Cost.ComputeUSD, 1e-9), r(c.Cost.RequestsUSD, 1e-9), r(c.Cost.ServerUSD, 1e-9)
}

// recommend picks the configuration: under a deadline the cheapest that meets it (within the budget too, when
// there is one); under a budget alone the fastest within it; with neither the cheapest. Ties go to the faster,
// then the cheaper, then the first listed.
func (p *Plan) recommend() error {
	j := &p.Job
	var cands []*Configuration
	for i := range p.Configurations {
		c := &p.Configurations[i]
		ok := c.Feasible
		if j.DeadlineS > 0 {
			meets := c.TimeS <= j.DeadlineS
			c.MeetsDeadline = &meets
			ok = ok && meets
		}
		if j.BudgetUSD > 0 {
			within := c.CostUSD <= j.BudgetUSD
			c.WithinBudget = &within
			ok = ok && within
		}
		if ok {
			cands = append(cands, c)
		}
	}
	byCost := func(a, b *Configuration) int {
		return cmp.Or(cmp.Compare(a.CostUSD, b.CostUSD), cmp.Compare(a.TimeS, b.TimeS))
	}
	byTime := func(a, b *Configuration) int {
		return cmp.Or(cmp.Compare(a.TimeS, b.TimeS), cmp.Compare(a.CostUSD, b.CostUSD))
	}
	order := byCost
	switch {
	case j.DeadlineS > 0 && j.BudgetUSD > 0:
		p.Objective = fmt.Sprintf("the cheapest configuration that meets the %s deadline within the %s budget", seconds(j.DeadlineS), usd(j.BudgetUSD))
	case j.DeadlineS > 0:
		p.Objective = fmt.Sprintf("the cheapest configuration that meets the %s deadline", seconds(j.DeadlineS))
	case j.BudgetUSD > 0:
		order = byTime
		p.Objective = fmt.Sprintf("the fastest configuration within the %s budget", usd(j.BudgetUSD))
	default:
		p.Objective = "the cheapest configuration; the job sets no deadline_s or budget_usd"
	}
	if len(cands) > 0 {
		best := slices.MinFunc(cands, order) // MinFunc keeps the first of equals: the plan's order breaks ties
		rec := *best
		p.Recommended = &rec
		return nil
	}
	var feasible []*Configuration
	for i := range p.Configurations {
		if p.Configurations[i].Feasible {
			feasible = append(feasible, &p.Configurations[i])
		}
	}
	if len(feasible) == 0 {
		return &InfeasibleError{Msg: fmt.Sprintf("no configuration can run the job: %s (%s)", p.Configurations[0].Describe(),
			strings.Join(p.Configurations[0].Reasons, "; "))}
	}
	fastest := slices.MinFunc(feasible, byTime)
	cheapest := slices.MinFunc(feasible, byCost)
	switch {
	case j.DeadlineS > 0 && (j.BudgetUSD == 0 || fastest.CostUSD <= j.BudgetUSD || fastest.TimeS > j.DeadlineS):
		return &InfeasibleError{Msg: fmt.Sprintf("no configuration meets the %s deadline: the fastest is %s (%s) at %s, costing %s",
			seconds(j.DeadlineS), fastest.Describe(), fastest.ID, seconds(fastest.TimeS), usd(fastest.CostUSD))}
	case j.DeadlineS > 0:
		return &InfeasibleError{Msg: fmt.Sprintf("no configuration meets the %s deadline within the %s budget: the fastest, %s (%s), takes %s and costs %s",
			seconds(j.DeadlineS), usd(j.BudgetUSD), fastest.Describe(), fastest.ID, seconds(fastest.TimeS), usd(fastest.CostUSD))}
	}
	return &InfeasibleError{Msg: fmt.Sprintf("no configuration fits the %s budget: the cheapest is %s (%s) at %s, taking %s",
		usd(j.BudgetUSD), cheapest.Describe(), cheapest.ID, usd(cheapest.CostUSD), seconds(cheapest.TimeS))}
}

func sortedInts(v []int) []int {
	out := slices.Clone(v)
	slices.Sort(out)
	return out
}

func seconds(s float64) string {
	if s == math.Trunc(s) && s < 1e6 {
		return fmt.Sprintf("%.0f s", s)
	}
	if s < 10 {
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.1f s", s)
}

func usd(v float64) string {
	if v < 0.01 {
		return fmt.Sprintf("$%.6f", v)
	}
	return fmt.Sprintf("$%.4f", v)
}

func humanBytes(b float64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f GB", b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.1f MB", b/1e6)
	}
	return fmt.Sprintf("%.0f kB", b/1e3)
}

func humanRate(bps float64) string { return fmt.Sprintf("%.0f MB/s", bps/1e6) }
