package exp
import ("context";"math";"os";"strings";"strconv";"testing";"time";"github.com/stratahq/strata/services/prediction/cdnow";"github.com/stratahq/strata/services/prediction/features";"github.com/stratahq/strata/services/prediction/learn";"github.com/stratahq/strata/services/prediction/metrics")
func TestExp4(t *testing.T){
 txs,_:=cdnow.ReadFile("/work/shared/datasets/cdnow/CDNOW_sample.txt")
 st:=features.Replay(cdnow.Events(txs))
 cut:=time.Date(1997,10,1,0,0,0,0,time.UTC)
 ts:=features.BuildTrainingSet(st,cut,features.PurchaseWithin(0))
 ctx:=context.Background()
 b,_:=os.ReadFile("/tmp/skfolds.csv"); fm:=map[string]int{}
 for _,l:=range strings.Split(string(b),"\n")[1:]{ p:=strings.Split(l,","); if len(p)<3{continue}; k,_:=strconv.Atoi(p[1]); fm[p[0]]=k}
 folds:=make([]int,len(ts.Users)); for i,u:=range ts.Users{ k,ok:=fm[u]; if !ok{t.Fatal(u)}; folds[i]=k}
 logX:=make([][]float64,len(ts.X)); for i,r:=range ts.X{ l:=make([]float64,len(r)); for j,v:=range r{l[j]=math.Log1p(math.Max(v,0))}; logX[i]=l}
 run:=func(name string, X [][]float64, f learn.Trainer)[]float64{oof,err:=learn.CrossValPredictFolds(ctx,f,X,ts.Y,folds,5); if err!=nil{t.Fatal(err)}; r,_:=metrics.Evaluate(oof,ts.Y); t.Log(name,r.AUC); return oof}
 run("lr raw",ts.X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitLogistic(ctx,X,y,learn.LogisticConfig{})})
 run("lr log",logX,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitLogistic(ctx,X,y,learn.LogisticConfig{})})
 run("gbt",ts.X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitGBT(ctx,X,y,learn.GBTConfig{Seed:42,MaxDepth:2,Trees:500,LearningRate:0.02,MinLeaf:50})})
 run("rf",ts.X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitForest(ctx,X,y,learn.ForestConfig{Seed:42,MinLeaf:60,Trees:300})})
}
