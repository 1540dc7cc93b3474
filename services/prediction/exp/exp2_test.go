package exp
import ("context";"math";"testing";"time";"github.com/stratahq/strata/services/prediction/cdnow";"github.com/stratahq/strata/services/prediction/clv";"github.com/stratahq/strata/services/prediction/features";"github.com/stratahq/strata/services/prediction/learn";"github.com/stratahq/strata/services/prediction/metrics")
func TestExp2(t *testing.T){
 txs,_:=cdnow.ReadFile("/work/shared/datasets/cdnow/CDNOW_sample.txt")
 st:=features.Replay(cdnow.Events(txs))
 cut:=time.Date(1997,10,1,0,0,0,0,time.UTC)
 ts:=features.BuildTrainingSet(st,cut,features.PurchaseWithin(0))
 ctx:=context.Background()
 // bgnbd
 var ss []clv.Summary
 for _,u:=range ts.Users{c,_:=clv.Summarize(st[u].Purchases(cut),cut.Add(-time.Hour),clv.Week); ss=append(ss,c.Summary)}
 fit,_:=clv.FitBGNBD(ctx,ss,clv.FitOptions{})
 sc:=make([]float64,len(ss)); pa:=make([]float64,len(ss))
 for i,s:=range ss{sc[i]=fit.Params.ExpectedPurchases(s,39); pa[i]=fit.Params.PAlive(s)}
 a,_:=metrics.AUC(sc,ts.Y); b,_:=metrics.AUC(pa,ts.Y); t.Log("bgnbd E",a,"palive",b)
 logX:=make([][]float64,len(ts.X))
 augX:=make([][]float64,len(ts.X))
 for i,r:=range ts.X{ l:=make([]float64,len(r)); for j,v:=range r{l[j]=math.Log1p(math.Max(v,0))}; logX[i]=l; augX[i]=append(append([]float64{},l...),sc[i],pa[i])}
 folds:=learn.StratifiedFolds(ts.Y,5,42)
 run:=func(name string, X [][]float64, f learn.Trainer){oof,err:=learn.CrossValPredictFolds(ctx,f,X,ts.Y,folds,5); if err!=nil{t.Fatal(err)}; r,_:=metrics.Evaluate(oof,ts.Y); t.Log(name,r.AUC)}
 lr:=func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitLogistic(ctx,X,y,learn.LogisticConfig{})}
 run("lr log",logX,lr)
 run("lr aug",augX,lr)
 for _,c:=range []learn.GBTConfig{{Seed:42,MaxDepth:2,Trees:300},{Seed:42,MaxDepth:3,Trees:200,LearningRate:0.03,MinLeaf:40},{Seed:42,MaxDepth:2,Trees:500,LearningRate:0.02,MinLeaf:50},{Seed:42,MaxDepth:4,Trees:150,LearningRate:0.03,MinLeaf:50}}{
  c:=c; run("gbt "+fmtc(c),ts.X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitGBT(ctx,X,y,c)})
  run("gbt aug "+fmtc(c),augX,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitGBT(ctx,X,y,c)})
 }
 for _,ml:=range []int{10,20,40,80}{ ml:=ml; run("rf "+itoa(ml),ts.X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitForest(ctx,X,y,learn.ForestConfig{Seed:42,MinLeaf:ml,Trees:300})})
  run("rf aug "+itoa(ml),augX,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitForest(ctx,X,y,learn.ForestConfig{Seed:42,MinLeaf:ml,Trees:300})})}
}
func itoa(i int) string{return time.Duration(i).String()}
func fmtc(c learn.GBTConfig) string{return itoa(c.MaxDepth)+"/"+itoa(c.Trees)+"/"+itoa(c.MinLeaf)}
